"""Changing an interface's address in a running network: the lab is re-planned and every
running machine whose addresses or routes the new plan changes is reconfigured in place.

One address can move others: an address on a segment chooses that segment's subnet, so the
machines nemu addresses there move into it, and routers' routes follow. So the whole plan is
recomputed (`engine.plan.addressing.plan`, as at boot) and compared machine by machine;
`reconfigure_script` says, for one machine, what to run in it. A stopped machine just boots
with the new plan. A running machine's MAC is the one its NIC booted with: changing it is
refused until the machine is stopped (QEMU cannot change a NIC's MAC while it runs).
"""

from __future__ import annotations

import dataclasses
import shlex
from typing import Any

from engine.errors import SessionError, TopologyError
from engine.model import Interface
from engine.plan.addressing import MachinePlan, Route, plan
from engine.session.core import SessionCore
from engine.session.events import NodeState

# The interface fields a running lab can be told about (what the GUI's interface list edits).
INTERFACE_FIELDS = ("address", "mac")


def _route_dest(route: Route) -> str:
    return "default" if route.destination.prefixlen == 0 else str(route.destination)


def reconfigure_script(old: MachinePlan, new: MachinePlan) -> str:
    """Shell commands that take a running guest from `old`'s addresses and routes to `new`'s
    ("" when nothing changes). Changed addresses are flushed and set; flushing drops the
    routes through them, so every route of the new plan is then (re)placed."""
    lines: list[str] = []
    for iface in sorted(set(old.addresses) | set(new.addresses)):
        before, after = old.addresses.get(iface), new.addresses.get(iface)
        if before != after:
            lines.append(f"ip addr flush dev {shlex.quote(iface)}")
            if after is not None:
                lines.append(f"ip addr add {after} dev {shlex.quote(iface)}")
    gone = [r for r in old.routes if r not in new.routes]
    if not lines and not gone and new.routes == old.routes:
        return ""
    for r in gone:                       # may be gone already, with its address
        lines.append(f"{{ ip route del {_route_dest(r)} via {r.via} 2>/dev/null || true; }}")
    for r in new.routes:
        lines.append(f"ip route replace {_route_dest(r)} via {r.via}")
    return " && ".join(lines)


class LiveAddressing:
    """`Session.set_interface`: addresses and MACs changed, in the model and running guests."""

    def __init__(self, core: SessionCore) -> None:
        self.c = core

    async def set_interface(self, node: str, iface: str, **fields: Any) -> Interface:
        """Set `address` and/or `mac` of one interface (None: nemu chooses), checked as the
        file is; while the lab runs, the running machines follow the new plan at once."""
        unknown = set(fields) - set(INTERFACE_FIELDS)
        if unknown:
            raise SessionError(f"{node}.{iface}: changing {', '.join(sorted(unknown))} of an "
                               "interface is not supported (only address and mac)")
        n = self.c.topo.node(node)
        current = n.interface(iface)
        if current is None:
            raise SessionError(f"{node} has no interface {iface}")
        new = dataclasses.replace(current, **fields)        # the model's own checks
        if new == current:
            return current
        clash = self.c.topo.address_clash(node, new)
        if clash is not None:
            raise TopologyError(f"{node}.{iface}: {clash.message}")
        machine_runs = n.kind.is_machine and self.c.states.get(node) in (NodeState.RUNNING,
                                                                       NodeState.STARTING)
        if new.mac != current.mac and self.c.running and machine_runs:
            raise SessionError(f"{node}.{iface}: a running machine keeps the MAC its NIC "
                               f"booted with; stop {node}, change the MAC, start it")
        self.c.topo.update_node(node, interfaces=[new if i.name == iface else i
                                                for i in n.interfaces])
        self.c.save_topology()
        if self.c.running:
            await self._follow_plan(plan(self.c.topo))
        return new

    async def _follow_plan(self, new: dict[str, MachinePlan]) -> None:
        """Reconfigure each running machine the new plan changes; keep the new plan."""
        for name, p in new.items():
            old = self.c.plans.get(name)
            if old is None or self.c.states.get(name) is not NodeState.RUNNING \
                    or name not in self.c.agents:
                continue
            p.macs = {**p.macs, **old.macs}          # the NICs keep what they booted with
            script = reconfigure_script(old, p)
            if not script:
                continue
            r = await self.c.node(name).run(script, timeout=30)
            if r.exitcode != 0:
                raise SessionError(f"{name}: applying its new addresses failed: "
                                   f"{r.stderr.decode(errors='replace').strip()}")
            await self.c.node(name).run("ip neigh flush all", timeout=10)
        self.c.plans = new
