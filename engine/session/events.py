"""What a running session reports: plain dataclasses, delivered to subscribers in order.

The CLI prints them, the GUI's bridge turns them into queued Qt signals, scripts may await them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from engine.model import Interface
from engine.stats import LinkStats


class NodeState(enum.Enum):
    STOPPED = "stopped"
    STARTING = "starting"     # process started, guest not ready yet
    RUNNING = "running"       # guest agent answers (or, for fabric/slirp, process up)
    STOPPING = "stopping"
    CRASHED = "crashed"       # died without being asked to


@dataclass(frozen=True)
class NodeStateChanged:
    node: str
    state: NodeState
    reason: str = ""


@dataclass(frozen=True)
class ProcessDied:
    role: str                 # "qemu:h1", "vswitch", "slirp:nat"
    pid: int
    detail: str = ""


@dataclass(frozen=True)
class Progress:
    """Boot progress: `done` of `total` steps, with what is happening now."""

    done: int
    total: int
    message: str


@dataclass(frozen=True)
class NodeHealth:
    node: str
    cpu_percent: float
    rss_bytes: int


@dataclass(frozen=True)
class LinkParamsApplied:
    """The vswitch confirmed new parameters for a link (what a slider waits for): per end,
    the fields that changed, with the values the vswitch now applies."""

    link: str
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class StatsUpdate:
    links: tuple[LinkStats, ...]


@dataclass(frozen=True)
class Problem:
    """Something went wrong that the user should see; the session goes on."""

    where: str
    message: str


@dataclass(frozen=True)
class EditFailed:
    """A live edit the running lab refused (`engine.lab`): what was tried, and why."""

    what: str
    reason: str


@dataclass(frozen=True)
class InterfaceKept:
    """An interface the running lab refused to take off a node (a NIC its machine booted
    with), or to give a new address or MAC: what a front end puts back into its model, where,
    and the lab's reason."""

    node: str
    iface: Interface
    after: str | None        # the interface before it in the lab's list (None: first)
    index: int
    reason: str
    fields: bool = False     # True: it is there, but the lab refused its new address or MAC


@dataclass(frozen=True)
class ControlLost:
    """Another controller (a window, a script) took the lab over from this one."""

    session: str
    holder: str              # who controls it now, in words


SessionEvent = (NodeStateChanged | ProcessDied | Progress | NodeHealth | LinkParamsApplied
                | StatsUpdate | Problem | EditFailed | InterfaceKept | ControlLost)
