"""CPU and memory of each running machine's QEMU process, sampled with psutil.

Runs on the engine thread (a psutil call may take a few milliseconds per process), never on the
Qt thread. The first CPU reading of a process is its baseline, so it reports 0 %.
"""

from __future__ import annotations

import contextlib

import psutil

from engine.session.events import NodeHealth, NodeState
from engine.session.session import Session


class HealthSampler:
    def __init__(self) -> None:
        self._procs: dict[tuple[str, int], psutil.Process] = {}

    def sample(self, s: Session) -> list[NodeHealth]:
        out: list[NodeHealth] = []
        for node, state in list(s.states.items()):
            if state is not NodeState.RUNNING or node not in s.agents:
                continue
            handle = s.process(node)
            if handle is None:
                continue
            key = (node, handle.pid)
            with contextlib.suppress(psutil.Error):
                proc = self._procs.get(key)
                if proc is None:
                    proc = self._procs[key] = psutil.Process(handle.pid)
                with proc.oneshot():
                    out.append(NodeHealth(node, proc.cpu_percent(None),
                                          proc.memory_info().rss))
        return out
