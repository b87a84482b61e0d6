"""Ready example labs: `nemu new --example NAME` and the GUI's File → New from example.

Each builder returns a Topology; `examples/*.yaml` are these, saved (a test keeps them equal).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from engine.errors import NemuError
from engine.model import DirectionParams, Interface, Node, NodeKind, Topology


def labs_dir() -> Path:
    """Where lab files go unless the user says otherwise (`nemu demo`, the designer's Open and
    Save dialogs): $NEMU_LABS, else ~/nemu-labs."""
    env = os.environ.get("NEMU_LABS")
    return Path(env) if env else Path.home() / "nemu-labs"


def two_hosts() -> Topology:
    """Two hosts on one 10 Mbit/s, 10 ms link: the smallest network worth measuring."""
    t = Topology(name="two-hosts", description="Two hosts joined by a 10 Mbit/s, 10 ms link.")
    t.add_node(Node("h1", NodeKind.HOST, [Interface("eth0", "10.0.0.1/24")], pos=(-150.0, 0.0)))
    t.add_node(Node("h2", NodeKind.HOST, [Interface("eth0", "10.0.0.2/24")], pos=(150.0, 0.0)))
    t.connect("h1", "h2", params=DirectionParams.from_text(
        {"bandwidth": "10Mbit", "delay": "10ms"}))
    return t


def star(size: int = 3) -> Topology:
    """Hosts on a switch behind a router, which reaches outside through a slirp NAT."""
    _check_size(size, 1, 200)
    t = Topology(name="star", description=f"{size} hosts on a switch behind router r1, which "
                 "reaches outside through NAT.")
    t.add_node(Node("nat", NodeKind.SLIRP, [Interface("nat0")], pos=(0.0, -250.0)))
    t.add_node(Node("r1", NodeKind.ROUTER,
                    [Interface("eth0", "10.0.1.1/24"), Interface("eth1")], pos=(0.0, -120.0),
                    services={"dhcp": {"range": "10.0.1.100-10.0.1.199"}, "dns": {}}))
    t.add_node(Node("sw1", NodeKind.SWITCH, [Interface(f"p{i}") for i in range(size + 1)],
                    pos=(0.0, 0.0)))
    t.connect("r1", "nat", "eth1", "nat0")
    t.connect("r1", "sw1", "eth0", "p0", DirectionParams.from_text({"bandwidth": "100Mbit"}))
    for i in range(1, size + 1):
        x = (i - (size + 1) / 2) * 140.0
        t.add_node(Node(f"h{i}", NodeKind.HOST, [Interface("eth0", f"10.0.1.{10 + i}/24")],
                        pos=(x, 130.0)))
        t.connect(f"h{i}", "sw1", "eth0", f"p{i}",
                  DirectionParams.from_text({"bandwidth": "10Mbit", "delay": "1ms"}))
    return t


def chain(size: int = 4) -> Topology:
    """The seed paper's chain: `size` overlay nodes in a line, each link 10 Mbit/s.

    Node k forwards the stream it receives from k-1 to k+1 at the application layer, so every
    hop is its own TCP connection (the paper's "pipelined TCP connections").
    """
    _check_size(size, 2, 256)
    t = Topology(name=f"chain-{size}", description=f"The seed paper's chain of {size} overlay "
                 "nodes joined by 10 Mbit/s links; each node relays the stream to the next.")
    for k in range(1, size + 1):
        ifaces = []
        if k > 1:
            ifaces.append(Interface("eth0", f"10.{1 + (k - 1) // 250}.{(k - 1) % 250}.2/24"))
        if k < size:
            ifaces.append(Interface("eth1" if k > 1 else "eth0",
                                    f"10.{1 + k // 250}.{k % 250}.1/24"))
        t.add_node(Node(f"n{k}", NodeKind.HOST, ifaces, pos=((k - 1) * 150.0, 0.0),
                        notes="source" if k == 1 else ("sink" if k == size else "relay")))
    p = DirectionParams.from_text({"bandwidth": "10Mbit"})
    for k in range(1, size):
        t.connect(f"n{k}", f"n{k + 1}", "eth1" if k > 1 else "eth0", "eth0", p)
    return t


def tree(depth: int = 2, outdegree: int = 2) -> Topology:
    """The seed paper's distribution tree: a source whose stream every node relays to its
    `outdegree` children, `depth` levels deep."""
    _check_size(depth, 1, 8)
    _check_size(outdegree, 1, 8)
    if (outdegree ** (depth + 1) - 1) > 512 * max(outdegree - 1, 1):
        raise NemuError("tree: that many nodes would not fit on one machine; keep it under 512")
    t = Topology(name=f"tree-{depth}x{outdegree}",
                 description=f"A distribution tree of depth {depth} and outdegree {outdegree}; "
                 "every link 10 Mbit/s.")
    p = DirectionParams.from_text({"bandwidth": "10Mbit"})
    t.add_node(Node("t0", NodeKind.HOST, [], pos=(0.0, 0.0), notes="source"))
    level = ["t0"]
    subnet = 0
    for d in range(1, depth + 1):
        nxt: list[str] = []
        width = len(level) * outdegree
        for pi, parent in enumerate(level):
            for c in range(outdegree):
                name = f"t{len(t.nodes)}"
                idx = pi * outdegree + c
                t.add_node(Node(name, NodeKind.HOST, [], pos=((idx - (width - 1) / 2) * 90.0,
                                                              d * 140.0),
                                notes="leaf" if d == depth else "relay"))
                subnet += 1
                pa = t.add_interface(parent, Interface(t.node(parent).next_interface_name(),
                                     f"10.{1 + subnet // 250}.{subnet % 250}.1/24"))
                ch = t.add_interface(name, Interface("eth0",
                                     f"10.{1 + subnet // 250}.{subnet % 250}.2/24"))
                t.connect(parent, name, pa.name, ch.name, p)
                nxt.append(name)
        level = nxt
    return t


EXAMPLES: dict[str, tuple[Callable[..., Topology], str]] = {
    "two-hosts": (two_hosts, "two hosts on a 10 Mbit/s, 10 ms link"),
    "star": (star, "hosts on a switch behind a router with NAT (--size hosts)"),
    "chain": (chain, "the seed paper's chain of overlay relays (--size nodes)"),
    "tree": (tree, "the seed paper's distribution tree (depth 2, outdegree 2)"),
}


def build(name: str, size: int | None = None) -> Topology:
    if name not in EXAMPLES:
        raise NemuError(f"no example named {name!r} (there are: {', '.join(EXAMPLES)})")
    builder = EXAMPLES[name][0]
    return builder(size) if size is not None else builder()


def _check_size(n: int, lo: int, hi: int) -> None:
    if not lo <= n <= hi:
        raise NemuError(f"size {n} must be between {lo} and {hi}")
