"""One-off requests to the running lab from the designer's menus and docks: a command in a
machine, a console's size, starting or stopping one node, a capture, a helper program.

Each is submitted to the engine thread through the bridge and answers on the Qt thread (a
signal, or a notification when it fails); nothing here waits.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nemu_gui.engine_bridge import EngineBridge

NODE_VERBS = ("start", "stop", "restart")


class LabActions:
    def __init__(self, bridge: EngineBridge) -> None:
        self.bridge = bridge

    def run_command(self, node: str, command: str, timeout: float = 60.0) -> None:
        """Run `command` in a running machine; the result comes back as `commandDone`."""
        b, s = self.bridge, self.bridge.session
        if s is None:
            return
        if node not in s.agents:
            b.failed.emit(f"{node}: {command}", f"{node} is not a running machine")
            return
        b.submit(s.node(node).run(command, timeout=timeout), f"{node}: {command}",
                 lambda r: b.commandDone.emit(node, command, r))

    def resize_console(self, node: str, rows: int, columns: int) -> None:
        """Give `node`'s serial console the size of the terminal showing it."""
        s = self.bridge.session
        if s is not None and node in s.agents:
            self.bridge.submit(s.node(node).resize_console(rows, columns),
                               f"{node}: console size")

    def node_action(self, node: str, verb: str) -> None:
        """Start, stop or restart one machine or NAT of the running lab."""
        s = self.bridge.session
        if s is None or verb not in NODE_VERBS:
            return
        call = getattr(s, f"{verb}_node")
        self.bridge.submit(call(node), f"Could not {verb} {node}", ordered=True)

    def node_verbs(self, node: str) -> set[str]:
        """What `node_action` can do with this node now."""
        b, s = self.bridge, self.bridge.session
        if s is None or not b.running or node not in b.node_states:
            return set()
        kind = s.topo.node(node).kind if s.topo.has_node(node) else None
        if kind is None or kind.is_fabric:
            return set()
        if b.node_states[node] == "running":
            return {"stop", "restart"}
        if b.node_states[node] in ("stopped", "crashed"):
            return {"start"}
        return set()

    def capture(self, link: str, end: str, file: Path, start: bool = True) -> None:
        b, s = self.bridge, self.bridge.session
        if s is None:
            return
        verb = "Capturing" if start else "Stopped capturing"
        b.submit(s.capture(link, end, file, start),  # type: ignore[arg-type]
                 f"Could not capture on {link}",
                 lambda _r: b.info.emit(f"{verb} {link} ({end} side)", str(file)))

    def wireshark(self, link: str, end: str, program: str) -> None:
        """Open Wireshark on the frames `end` of `link` sends, live."""
        b, s = self.bridge, self.bridge.session
        if s is not None:
            b.submit(s.capture_live(link, end, program),  # type: ignore[arg-type]
                     f"Could not open {link} in Wireshark",
                     lambda fifo: b.info.emit(f"{link} ({end} side) is live in Wireshark",
                                              str(fifo)))

    def start_process(self, argv: list[str], label: str, what: str) -> None:
        """Start a helper program (a terminal) through the session's host seam."""
        s = self.bridge.session
        if s is not None:
            self.bridge.submit(s.start_helper(argv, label), what)
