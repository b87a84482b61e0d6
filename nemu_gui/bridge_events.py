"""What a running session reports, turned into the bridge's Qt signals (on the Qt thread).

One dispatch over the engine's event types; an interface the running lab keeps (a NIC its
machine booted with, or an address it refused) is also put back into the canvas model, so the
canvas and the lab agree.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from engine.errors import TopologyError
from engine.session.events import (
    EditFailed,
    InterfaceKept,
    LinkParamsApplied,
    NodeHealth,
    NodeStateChanged,
    Problem,
    ProcessDied,
    Progress,
    SessionEvent,
    StatsUpdate,
)

if TYPE_CHECKING:
    from nemu_gui.engine_bridge import EngineBridge


def dispatch(b: EngineBridge, ev: SessionEvent) -> None:
    from nemu_gui.engine_bridge import BADGE
    match ev:
        case NodeStateChanged(node=node, state=state, reason=reason):
            b.node_states[node] = BADGE[state]
            b.nodeState.emit(node, BADGE[state], reason)
            b.engineState.emit(b.status_text())
        case Progress(done=done, total=total, message=message):
            b.progress.emit(done, total, message)
        case StatsUpdate(links=links):
            for st in links:
                utils = [u for u in (st.a_to_b.utilisation, st.b_to_a.utilisation)
                         if u is not None]
                b.linkRates.emit(st.link, st.a_to_b.bps, st.b_to_a.bps,
                                 max(utils) if utils else None)
                b.linkStats.emit(st)
        case LinkParamsApplied(link=link, changes=changes):
            b.linkApplied.emit(link, changes)
        case NodeHealth(node=node, cpu_percent=cpu, rss_bytes=rss):
            b.nodeHealth.emit(node, cpu, rss)
        case ProcessDied(role=role, pid=pid, detail=detail):
            b.failed.emit(f"{role} stopped unexpectedly", f"pid {pid}: {detail}")
        case Problem(where=where, message=message):
            b.failed.emit(f"Problem in {where}", message)
        case EditFailed(what=what, reason=reason):
            b.failed.emit(what, reason)
        case InterfaceKept():
            put_back(b, ev)
            what = f"{ev.iface.name}'s address and MAC" if ev.fields else ev.iface.name
            b.failed.emit(f"{ev.node} keeps {what}", ev.reason)
            b.interfaceKept.emit(ev.node, ev.iface.name, ev.reason)


def put_back(b: EngineBridge, k: InterfaceKept) -> None:
    """Put an interface the lab kept back into the canvas model, as the lab has it."""
    t = b.canvas_topology
    if t is None or not t.has_node(k.node):
        return
    if k.fields:                       # the lab refused new fields: it keeps its own
        ifaces = [k.iface if i.name == k.iface.name else i for i in t.node(k.node).interfaces]
        with contextlib.suppress(TopologyError):
            t.update_node(k.node, interfaces=ifaces)
        return
    if t.node(k.node).interface(k.iface.name) is not None:
        return
    ifaces = list(t.node(k.node).interfaces)
    names = [i.name for i in ifaces]
    at = names.index(k.after) + 1 if k.after in names else min(k.index, len(ifaces))
    ifaces.insert(at, k.iface)
    with contextlib.suppress(TopologyError):    # the canvas moved on (a clash): leave it
        t.update_node(k.node, interfaces=ifaces)
