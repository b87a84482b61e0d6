"""engine.live_edits: live edits from a front end reach the session in order, coalesced.

The session here records what it is asked (a stand-in for the engine side of a running lab,
as the shaper's tests inject a clock); the debounce waits on a gate the test opens, so the
test decides when "later" is. Real sessions run these paths in the live GUI tests.
"""

from __future__ import annotations

import asyncio
from typing import Any

from engine import examples
from engine.errors import SessionError
from engine.live_edits import LiveEdits, freeze
from engine.model import Interface, Node, NodeKind, Topology
from engine.session.events import EditFailed, InterfaceKept


class Recording:
    """What a running session is asked, in order; `refuse` names calls that fail."""

    def __init__(self, topo: Topology, refuse: set[tuple[str, ...]] | None = None) -> None:
        self.topo = topo
        self.calls: list[tuple[Any, ...]] = []
        self.events: list[Any] = []
        self.refuse = refuse or set()

    def emit(self, event: Any) -> None:
        self.events.append(event)

    async def _call(self, *call: Any) -> None:
        await asyncio.sleep(0)
        self.calls.append(call)
        if call[:3] in self.refuse:
            raise SessionError(f"refused {call[0]} {call[1]}")

    async def set_link(self, name: str, which: str, **changes: Any) -> None:
        await self._call("set", name, which, changes)

    async def add_node(self, node: Node) -> None:
        await self._call("add", node.name)

    async def connect(self, a: str, b: str, *args: Any) -> None:
        await self._call("connect", a, b)

    async def remove_link(self, name: str) -> None:
        await self._call("unplug", name)

    async def move_link_end(self, name: str, end: str, iface: str) -> None:
        await self._call("move", name, end, iface)

    async def remove_node(self, name: str) -> None:
        await self._call("remove-node", name)

    async def rename_node(self, old: str, new: str) -> None:
        await self._call("rename", old, new)

    async def remove_interface(self, node: str, iface: str) -> None:
        await self._call("remove", node, iface)


class Gate:
    """An injected `sleep`: waits until the test says time has passed."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.waits = 0

    async def sleep(self, _seconds: float) -> None:
        self.waits += 1
        await self.open.wait()


def front_end() -> tuple[Topology, list[Any]]:
    """A front end's own model and the notices it sends."""
    t = examples.two_hosts()
    notices: list[Any] = []
    t.subscribe(lambda e: notices.append(freeze(e)))
    return t, notices


def test_a_slider_drag_becomes_one_message_with_the_last_value() -> None:
    async def go() -> tuple[Recording, Gate, LiveEdits, list[Any]]:
        t, notices = front_end()
        s, gate = Recording(examples.two_hosts()), Gate()
        lab = LiveEdits(s, debounce=0.1, sleep=gate.sleep)      # type: ignore[arg-type]
        for k in range(1, 31):
            t.set_link_params("h1-h2", "both", bandwidth=f"{k}Mbit")
        for n in notices:
            lab.apply(n)
        await asyncio.sleep(0.01)
        before = list(s.calls)                             # nothing before the debounce ends
        gate.open.set()
        await lab.settle()
        return s, gate, lab, before

    s, gate, lab, before = asyncio.run(go())
    assert before == [] and gate.waits == 1
    assert s.calls == [("set", "h1-h2", "both", {"bandwidth": 30_000_000})]
    assert lab.sent_link_updates == 1


def test_changes_reach_the_lab_in_the_order_they_were_made() -> None:
    async def go() -> Recording:
        t, notices = front_end()
        s, gate = Recording(examples.two_hosts()), Gate()
        gate.open.set()                                    # no waiting in this one
        lab = LiveEdits(s, sleep=gate.sleep)                     # type: ignore[arg-type]
        t.add_node(Node("h3", NodeKind.HOST, interfaces=[Interface("eth0")]))
        t.connect("h2", "h3", name="h2-h3")
        t.set_link_params("h2-h3", "a", delay="5ms")
        t.set_link_params("h1-h2", "b", loss="1%")
        t.remove_link("h1-h2")                             # its pending change goes with it
        t.rename_node("h3", "h9")
        for n in notices:
            lab.apply(n)
        await lab.settle()
        return s

    s = asyncio.run(go())
    assert s.calls == [("add", "h3"), ("connect", "h2", "h3"), ("unplug", "h1-h2"),
                       ("rename", "h3", "h9"), ("set", "h2-h3", "a", {"delay": 5_000_000})]


def test_what_the_lab_refuses_is_reported_and_the_next_edit_goes_on() -> None:
    async def go() -> Recording:
        t, notices = front_end()
        t.update_node("h1", interfaces=[*t.node("h1").interfaces, Interface("eth1"),
                                        Interface("eth2")])
        lab_topo = examples.two_hosts()
        lab_topo.update_node("h1", interfaces=list(t.node("h1").interfaces))
        s = Recording(lab_topo, refuse={("remove", "h1", "eth1"), ("rename", "h2", "hx")})
        lab = LiveEdits(s)                                       # type: ignore[arg-type]
        notices.clear()
        t.update_node("h1", interfaces=[t.node("h1").interfaces[0]])   # eth1, eth2 removed
        t.rename_node("h2", "hx")
        t.rename_node("hx", "hy")
        for n in notices:
            lab.apply(n)
        await lab.settle()
        return s

    s = asyncio.run(go())
    assert s.calls == [("remove", "h1", "eth1"), ("remove", "h1", "eth2"),
                       ("rename", "h2", "hx"), ("rename", "hx", "hy")]
    kept = [e for e in s.events if isinstance(e, InterfaceKept)]
    assert [(k.node, k.iface.name, k.after, k.index) for k in kept] == [("h1", "eth1", "eth0", 1)]
    failed = [e for e in s.events if isinstance(e, EditFailed)]
    assert [(f.what, f.reason) for f in failed] == [("Could not rename h2 to hx",
                                                     "refused rename h2")]
