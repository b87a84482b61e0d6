"""Live edits of a running lab, from any front end: the one path that owns their order.

A front end (the designer, a shell, a timeline) edits its own copy of the topology and hands
each change notice of that model (`engine.model.events`) to `LiveEdits.apply` (through
`engine.lab.Lab`, which front ends use). The edits are replayed
on the running session in the order they were made, one at a time:

1. a link parameter change (`LinkChanged`) is merged into that link's pending changes (the
   latest value of a field wins) and sent `debounce` seconds after the first one, so a slider
   drag becomes a few messages, not a flood; both ends with the same fields go as one
   "both" change;
2. every other change (nodes and links added, removed, renamed, re-plugged, interfaces taken
   off) is queued behind what came before it, and a link's pending parameters go with it when
   the link is removed;
3. what the lab refuses is reported as session events: `EditFailed` (what, why) and
   `InterfaceKept` (an interface a running machine cannot give up, or whose new address or
   MAC it refuses, to put back in the front end's model).

Events must be handed over frozen (`freeze`, a deep copy made on the front end's own thread),
since the front end's model moves on. `apply` runs on the session's event loop; the debounce
waits with an injected `sleep`, so ordering and coalescing are tested without Qt or a clock.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from engine.model import (
    Interface,
    LinkAdded,
    LinkChanged,
    LinkRemoved,
    LinkRewired,
    NodeAdded,
    NodeChanged,
    NodeRemoved,
    NodeRenamed,
    TopologyEvent,
)
from engine.session.events import EditFailed, InterfaceKept
from engine.session.live_address import INTERFACE_FIELDS
from engine.session.session import Session

Sleep = Callable[[float], Awaitable[None]]


def freeze(event: TopologyEvent) -> TopologyEvent:
    """A copy of a change notice that its model's later edits cannot reach."""
    return copy.deepcopy(event)


class LiveEdits:
    def __init__(self, session: Session, debounce: float = 0.1,
                 sleep: Sleep = asyncio.sleep) -> None:
        self.session = session
        self.debounce = debounce
        self._sleep = sleep
        self._queue: asyncio.Queue[tuple[str, Callable[[], Coroutine[Any, Any, Any]]]] = \
            asyncio.Queue()
        self._pending: dict[str, dict[str, dict[str, Any]]] = {}   # link -> end -> field
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._worker: asyncio.Task[None] | None = None
        self.sent_link_updates = 0          # parameter messages sent (tests, benchmarks)

    # ---- taking changes --------------------------------------------------------------
    def apply(self, event: TopologyEvent) -> None:
        """Take one (frozen) change of the front end's model; on the session's loop."""
        s = self.session
        match event:
            case LinkChanged(link=link, changes=changes):
                per_link = self._pending.setdefault(link.name, {})
                for end, fields in changes.items():
                    per_link.setdefault(end, {}).update(fields)
                if link.name not in self._timers:
                    self._timers[link.name] = asyncio.ensure_future(self._later(link.name))
            case NodeAdded(node=node):
                self._do(f"Could not start {node.name}", lambda: s.add_node(node))
            case LinkAdded(link=link):
                self._do(f"Could not plug in link {link.name}", lambda: self._connect(link))
            case LinkRemoved(link=link):
                self._drop_pending(link.name)
                self._do(f"Could not unplug link {link.name}", lambda: s.remove_link(link.name))
            case LinkRewired(link=link, end=end):
                to = link.end(end)
                self._do(f"Could not plug link {link.name} into {to.label}",
                         lambda: s.move_link_end(link.name, end, to.iface))
            case NodeRemoved(node=node):
                self._do(f"Could not stop {node.name}", lambda: s.remove_node(node.name))
            case NodeChanged(name=name, changes=fields) if "interfaces" in fields:
                wanted = list(fields["interfaces"])
                self._do(f"Could not change the interfaces of {name}",
                         lambda: self._sync_interfaces(name, wanted))
            case NodeRenamed(old=old, new=new):
                self._do(f"Could not rename {old} to {new}", lambda: s.rename_node(old, new))

    async def settle(self) -> None:
        """Wait until every change taken so far has been applied (or refused)."""
        while self._timers:
            await asyncio.gather(*self._timers.values(), return_exceptions=True)
        await self._queue.join()

    async def close(self) -> None:
        for task in (*self._timers.values(), self._worker):
            if task is not None:
                task.cancel()
        self._timers.clear()
        self._pending.clear()
        self._worker = None

    # ---- doing them, in order --------------------------------------------------------
    def _do(self, what: str, make: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        self._queue.put_nowait((what, make))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.ensure_future(self._work())

    async def _work(self) -> None:
        while True:
            what, make = await self._queue.get()
            try:
                await make()
            except asyncio.CancelledError:
                raise
            except Exception as e:        # refused: say what and why; the next edit goes on
                self.session.emit(EditFailed(what, str(e) or type(e).__name__))
            finally:
                self._queue.task_done()

    async def _later(self, link: str) -> None:
        try:
            await self._sleep(self.debounce)
        finally:
            self._timers.pop(link, None)
        changes = self._pending.pop(link, None)
        if changes:
            self._do(f"Could not change link {link}", lambda: self._set_link(link, changes))

    def _drop_pending(self, link: str) -> None:
        self._pending.pop(link, None)
        timer = self._timers.pop(link, None)
        if timer is not None:
            timer.cancel()

    async def _set_link(self, name: str, changes: dict[str, dict[str, Any]]) -> None:
        self.sent_link_updates += 1
        s = self.session
        if changes.get("a") is not None and changes.get("a") == changes.get("b"):
            await s.set_link(name, "both", **changes["a"])
            return
        for end, fields in changes.items():
            if fields:
                await s.set_link(name, end, **fields)   # type: ignore[arg-type]

    async def _connect(self, link: Any) -> None:
        s = self.session
        await s.connect(link.a.node, link.b.node, link.a.iface, link.b.iface, link.a.params,
                        link.name)
        if link.b.params != link.a.params:
            await s.set_link(link.name, "b", **link.b.params.changes_from(link.a.params))

    async def _sync_interfaces(self, node: str, wanted: list[Interface]) -> None:
        """Make `node`'s interfaces in the running lab what the front end has: take off every
        interface it no longer has (a removed one, or one an undo dropped again) and give the
        others the address and MAC it gives them (`Session.set_interface`, which re-plans the
        running machines). Compared here, in order with the other edits, against the lab's
        own copy: the notice only says what the node has now. The session adds interfaces by
        itself when a link needs them, so new ones are not sent."""
        s = self.session
        if not s.topo.has_node(node):
            return
        have = list(s.topo.node(node).interfaces)
        keep = {i.name: i for i in wanted}
        for index, iface in enumerate(have):
            if iface.name in keep:
                continue
            try:
                await s.remove_interface(node, iface.name)
            except Exception as e:       # the lab still has it: the front end must too
                s.emit(InterfaceKept(node, copy.deepcopy(iface),
                                     have[index - 1].name if index else None, index,
                                     str(e) or type(e).__name__))
        for iface in have:
            new = keep.get(iface.name)
            if new is None:
                continue
            fields = {f: getattr(new, f) for f in INTERFACE_FIELDS
                      if getattr(new, f) != getattr(iface, f)}
            if not fields:
                continue
            try:
                await s.set_interface(node, iface.name, **fields)
            except Exception as e:       # the lab keeps its own: so must the front end
                s.emit(InterfaceKept(node, copy.deepcopy(iface), None, -1,
                                     str(e) or type(e).__name__, fields=True))
