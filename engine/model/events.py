"""Change notices a Topology sends to its listeners (the Qt scene, a running session).

Plain dataclasses: the GUI turns them into Qt signals, the engine into live updates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.model.link import End, Link
from engine.model.node import Node


@dataclass(frozen=True)
class NodeAdded:
    node: Node


@dataclass(frozen=True)
class NodeRemoved:
    node: Node


@dataclass(frozen=True)
class NodeChanged:
    name: str
    changes: dict[str, Any]     # field -> new value


@dataclass(frozen=True)
class NodeRenamed:
    old: str
    new: str


@dataclass(frozen=True)
class LinkAdded:
    link: Link


@dataclass(frozen=True)
class LinkRemoved:
    link: Link


@dataclass(frozen=True)
class LinkChanged:
    """Parameters of one or both directions changed; `changes` holds only what changed."""

    link: Link
    changes: dict[str, dict[str, Any]]   # "a"/"b" -> field -> new value


@dataclass(frozen=True)
class LinkRewired:
    """One end of a link moved to another interface of the same node (`old_iface` before,
    `link.end(end).iface` now). Its own event, not a LinkChanged: a running lab must unplug
    and re-plug the link, not reshape it."""

    link: Link
    end: End
    old_iface: str


@dataclass(frozen=True)
class TopologyChanged:
    """The lab's own fields changed (name, description, seed, machines)."""

    changes: dict[str, Any]


TopologyEvent = (TopologyChanged | NodeAdded | NodeRemoved | NodeChanged | NodeRenamed
                 | LinkAdded | LinkRemoved | LinkChanged | LinkRewired)
