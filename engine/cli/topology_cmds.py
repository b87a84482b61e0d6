"""`nemu validate`, `nemu show`, `nemu new`: working with topology files, nothing started."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from engine import examples, topofile
from engine.errors import NemuError
from engine.hosts import LocalHost
from engine.model import Link, Topology
from engine.model.params import PERFECT, DirectionParams
from engine.session.resources import memory_problems


def register(sub: Any) -> None:
    p = sub.add_parser("validate", help="check topology files and report every problem")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("show", help="print a readable summary of a topology file")
    p.add_argument("file", type=Path, metavar="FILE")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("new", help="write a ready example topology")
    p.add_argument("--example", "-e", choices=sorted(examples.EXAMPLES), help="which example")
    p.add_argument("--size", type=int, help="number of nodes/hosts, for examples that scale")
    p.add_argument("--list", action="store_true", help="list the examples and exit")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.add_argument("output", nargs="?", type=Path, help="file to write (default: NAME.yaml)")
    p.set_defaults(func=cmd_new)


def cmd_validate(args: argparse.Namespace) -> int:
    bad = 0
    for path in args.files:
        try:
            topo = topofile.load(path)
        except NemuError as e:
            print(f"{e}", file=sys.stderr)
            bad += 1
            continue
        c = topo.summary_counts()
        print(f"{path}: ok ({len(topo.nodes)} nodes: "
              + ", ".join(f"{v} {k}" for k, v in c.items() if v)
              + f"; {len(topo.links)} links)")
        for problem in memory_problems(topo.nodes, asyncio.run(LocalHost().memory())):
            print(f"{path}: warning: {problem} (`nemu up` refuses it on this machine)",
                  file=sys.stderr)
    return 1 if bad else 0


def cmd_show(args: argparse.Namespace) -> int:
    print(render_summary(topofile.load(args.file)), end="")
    return 0


def cmd_new(args: argparse.Namespace) -> int:
    if args.list or not args.example:
        for name, (_, text) in examples.EXAMPLES.items():
            print(f"  {name:10s} {text}")
        return 0 if args.list else 2
    topo = examples.build(args.example, args.size)
    out: Path = args.output or Path(f"{topo.name}.yaml")
    if out.exists() and not args.force:
        raise NemuError(f"{out} exists already; pass --force to overwrite it")
    topofile.save(topo, out)
    print(f"wrote {out} ({len(topo.nodes)} nodes, {len(topo.links)} links)")
    return 0


def describe_params(p: DirectionParams) -> str:
    text = p.to_text()
    return ", ".join(f"{k} {v}" for k, v in text.items()) if p != PERFECT else "perfect wire"


def _link_lines(link: Link) -> list[str]:
    if link.a.params == link.b.params:
        return [f"  {link.name}: {link.a.label} <-> {link.b.label}  "
                f"[{describe_params(link.a.params)}]"]
    return [f"  {link.name}: {link.a.label} <-> {link.b.label}",
            f"      {link.a.node} -> {link.b.node}: {describe_params(link.a.params)}",
            f"      {link.b.node} -> {link.a.node}: {describe_params(link.b.params)}"]


def render_summary(topo: Topology) -> str:
    lines = [f"topology {topo.name}" + (f": {topo.description}" if topo.description else "")]
    if topo.machines:
        lines.append("machines:")
        lines += [f"  {m.name}: {m.user + '@' if m.user else ''}{m.address}:{m.port}"
                  for m in topo.machines]
    lines.append(f"nodes ({len(topo.nodes)}):")
    for n in topo.nodes:
        what = n.kind.value
        if n.kind.is_machine:
            what += f", image {n.image}, {n.memory}M, {n.cpus} cpu, {n.nic.value if n.nic else ''}"
        if n.host != "local":
            what += f", on {n.host}"
        ifaces = ", ".join(i.name + (f" {i.address}" if i.address else "")
                           + (f" vlan {i.vlan}" if i.vlan else "") for i in n.interfaces)
        lines.append(f"  {n.name:12s} {what}")
        if ifaces:
            lines.append(f"  {'':12s} interfaces: {ifaces}")
        if n.services:
            lines.append(f"  {'':12s} services: {', '.join(n.services)}")
    lines.append(f"links ({len(topo.links)}):")
    for link in topo.links:
        lines += _link_lines(link)
    return "\n".join(lines) + "\n"
