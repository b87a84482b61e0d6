"""The topology model: plain data, no processes, no Qt."""

from engine.model.events import (
    LinkAdded,
    LinkChanged,
    LinkRemoved,
    LinkRewired,
    NodeAdded,
    NodeChanged,
    NodeRemoved,
    NodeRenamed,
    TopologyChanged,
    TopologyEvent,
)
from engine.model.link import End, Endpoint, Link
from engine.model.machine import Machine
from engine.model.node import Interface, NicModel, Node, NodeKind, Storage, StorageKind
from engine.model.params import (
    BOOL_PARAMS,
    SPECS,
    USER_PARAMS,
    BerMode,
    DirectionParams,
    format_value,
    parse_value,
)
from engine.model.topology import Topology

__all__ = [
    "BOOL_PARAMS", "SPECS", "USER_PARAMS", "BerMode", "DirectionParams", "End", "Endpoint",
    "Interface", "Link",
    "LinkAdded", "LinkChanged", "LinkRemoved", "LinkRewired", "Machine", "NicModel", "Node",
    "NodeAdded", "NodeChanged", "NodeKind", "NodeRemoved", "NodeRenamed", "Storage",
    "StorageKind", "Topology", "TopologyChanged", "TopologyEvent", "format_value",
    "parse_value",
]
