"""Whether a lab fits the machine it runs on, checked before anything starts.

QEMU would fail with a bare "cannot set up guest memory" after half the lab booted; this says
which node asks for what, and what the machine has, before a process exists. Guests take their
memory lazily, so the sum of what they ask for against what is available (with swap) is a
generous bound, not a prediction.
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.hosts.base import MemoryInfo
from engine.model import Node
from engine.units import format_bytes, format_memory


def memory_problems(machines: Iterable[Node], mem: MemoryInfo) -> list[str]:
    """What of these machines cannot get its guest memory here (empty when all fit)."""
    nodes = [n for n in machines if n.kind.is_machine and n.memory]
    problems = [f"node {n.name}: memory {format_memory(n.memory or 0)} is more than this "
                f"machine has in all ({format_bytes(mem.total)})"
                for n in nodes if (n.memory or 0) * 2**20 > mem.total]
    wanted = sum((n.memory or 0) for n in nodes) * 2**20
    if not problems and wanted > mem.available:
        biggest = sorted(nodes, key=lambda n: -(n.memory or 0))[:3]
        problems.append(
            f"the lab's machines ask for {format_bytes(wanted)} of guest memory and only "
            f"{format_bytes(mem.available)} is available (largest: "
            + ", ".join(f"{n.name} {format_memory(n.memory or 0)}" for n in biggest)
            + ")")
    return problems
