"""What every part of a running session shares: the lab, its folder, host and processes, the
address and wiring plans, the guest agents, node states and the event listeners.

`Session` is this state plus its lifecycle (create, attach, up, down); the parts it is made of
(`lifecycle.NodeLifecycle`, `live_edit.LiveTopology`, `link_control.LinkControl`,
`monitor.Monitor`) each get it at construction and do one job on it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from engine import topofile
from engine.errors import SessionError
from engine.fabric import VSwitchFabric
from engine.hosts import LocalHost
from engine.hosts.base import Host
from engine.images.accel import AccelChoice
from engine.images.guest_agent import GuestAgent
from engine.model import NodeKind, Topology
from engine.plan.addressing import MachinePlan
from engine.plan.wiring import Wiring, plan_wiring
from engine.session.directory import SessionDir
from engine.session.events import NodeState, NodeStateChanged, SessionEvent
from engine.session.node_control import NodeControl
from engine.session.registry import ProcessRegistry

Listener = Callable[[SessionEvent], None]


class SessionCore:
    def __init__(self, topo: Topology, sdir: SessionDir, host: Host | None = None,
                 accel: AccelChoice | None = None) -> None:
        self.topo = topo
        self.dir = sdir
        self.host = host or LocalHost()
        self.accel = accel
        self.registry = ProcessRegistry(sdir, {self.host.name: self.host})
        self.fabric = VSwitchFabric(self.host, sdir.socket("vswitch.sock"),
                                    sdir.logs / "vswitch.log")
        self.agents: dict[str, GuestAgent] = {}     # one per running machine
        self.states: dict[str, NodeState] = {n.name: NodeState.STOPPED for n in topo.nodes}
        self.plans: dict[str, MachinePlan] = {}
        self.wiring = Wiring()
        self.nics: set[tuple[str, str]] = set()     # (node, iface): NICs the running QEMUs have
        self.stopping: set[str] = set()             # roles being stopped: no crash reports
        self.base_dir = (topo.base_dir or Path.cwd()).resolve()   # of relative disk paths
        self._listeners: list[Listener] = []

    # ---- events ------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def emit(self, event: SessionEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    def set_state(self, node: str, state: NodeState, reason: str = "") -> None:
        if self.states.get(node) is not state:
            self.states[node] = state
            self.emit(NodeStateChanged(node, state, reason))

    # ---- naming ------------------------------------------------------------------------
    def role(self, node: str) -> str:
        """A node's process in the registry: `qemu:NAME`, `slirp:NAME`, or the vswitch."""
        kind = self.topo.node(node).kind
        return f"qemu:{node}" if kind.is_machine else (
            f"slirp:{node}" if kind is NodeKind.SLIRP else "vswitch")

    def nic_socket(self, node: str, iface: str) -> Path:
        if self.topo.node(node).kind is NodeKind.SLIRP:
            return self.dir.socket(f"{node}.nat.sock")
        return self.dir.socket(f"{node}.{iface}.sock")

    def patch_socket(self, link: str) -> Path:
        return self.dir.socket(f"patch.{link}.sock")

    def plan_wiring(self) -> Wiring:
        return plan_wiring(self.topo, self.nic_socket, self.patch_socket)

    def resolve_path(self, path: str) -> Path:
        """A disk or storage path as written in the lab: relative to the lab file's folder
        (to the folder nemu ran in for a lab never saved), `~` expanded."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    # ---- shared helpers ----------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.fabric.client is not None

    def save_topology(self) -> None:
        topofile.save(self.topo, self.dir.topology_path, backup=False)

    def node(self, name: str) -> NodeControl:
        self.topo.node(name)
        agent = self.agents.get(name)
        if agent is None:
            raise SessionError(f"{name} is not a running machine")
        return NodeControl(name, agent)
