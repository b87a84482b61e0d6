"""Reading and writing topology files (YAML, schema `version: 1`).

Loading is strict: unknown keys, duplicate keys, wrong types and impossible values are errors
that name the file, the path inside it (``links[3].a.delay``) and what is wrong; all problems
are reported at once. Saving is canonical (the same model always gives the same text) and
atomic (a temporary file renamed over the old one, which is kept as ``.bak``).
See docs/file-format.md.
"""

from __future__ import annotations

import contextlib
import copy
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from engine import units
from engine.errors import NemuError, TopologyError, TopologyErrors
from engine.model import (
    Link,
    Machine,
    NicModel,
    Node,
    Topology,
    teaching,
)
from engine.model.node import DEFAULT_IMAGE
from engine.topofile_read import Reader, at, kind_of, parse_yaml, read_link, read_node

SCHEMA_VERSION = 1
HEADER = "# nemu topology (see docs/file-format.md)\n"

# Migrations from an older schema: MIGRATIONS[n] turns a raw version-n document (the parsed YAML,
# not yet checked) into a version-n+1 one; the loader then sets its `version` to n+1. They run
# before any check, so a step may rename or move keys the current schema no longer allows.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def migrate(doc: Any) -> Any:
    """The raw document upgraded to SCHEMA_VERSION, one version at a time.

    Runs before the schema is checked: an old file may hold keys renamed since, and a newer file
    keys this nemu does not know, which must read as "newer", not as "unknown key". A document
    with no usable version is returned as it is, for the checks to report.
    """
    if not isinstance(doc, dict) or "version" not in doc:
        return doc
    version = doc["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise TopologyError(f"expected a whole number, got {kind_of(version)}", "version")
    if version > SCHEMA_VERSION:
        raise TopologyError(f"written by a newer nemu (schema {version}; this one reads up to "
                            f"{SCHEMA_VERSION})", "version")
    if version < SCHEMA_VERSION:
        doc = copy.deepcopy(doc)  # the caller's document stays as it was
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            oldest = SCHEMA_VERSION
            while oldest - 1 in MIGRATIONS:
                oldest -= 1
            reads = f"schema {oldest}" + (f" to {SCHEMA_VERSION}" if oldest < SCHEMA_VERSION
                                          else "")
            raise TopologyError(f"schema {version} is too old to read (this nemu reads "
                                f"{reads})", "version")
        try:
            doc = step(doc)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as e:
            # an old file malformed in a way the step did not foresee
            raise TopologyError(f"cannot upgrade from schema {version} to {version + 1}: "
                                f"{type(e).__name__} {e}", "version") from None
        if not isinstance(doc, dict):
            raise TopologyError(f"upgrading from schema {version} gave {kind_of(doc)}, not a "
                                "mapping", "version")
        version += 1
        doc["version"] = version
    return doc


def from_document(doc: Any) -> Topology:
    """Build a Topology from a parsed document, raising TopologyErrors listing every problem.

    An older document is migrated first (see `migrate`); the checks are the current schema's.
    """
    r = Reader()
    top = r.mapping(migrate(doc), "", {"version"},
                    {"name", "description", "seed", "machines", "nodes", "links", "lab"})
    if top is None:
        raise TopologyErrors(r.errors)
    topo = Topology(name=r.typed(top, "name", "", str, "untitled"),
                    description=r.typed(top, "description", "", str, ""),
                    seed=r.typed(top, "seed", "", int))
    for i, item in enumerate(r.typed(top, "machines", "", list, [])):
        where = f"machines[{i}]"
        m = r.mapping(item, where, {"name", "address"}, {"user", "port", "key"})
        f = None if m is None else r.fields(m, where, {"name": str, "address": str, "user": str,
                                                       "port": int, "key": str})
        if f is None:
            continue
        try:
            topo.machines.append(Machine(**f))
        except TopologyError as e:
            r.fail(at(where, e.where), e.message)
        except TypeError:
            r.fail(where, "machine fields have the wrong type")
    names = [m.name for m in topo.machines]
    for i, n in enumerate(names):
        if n in names[:i]:
            r.fail(f"machines[{i}].name", f"machine name {n!r} is used twice")
    failed_nodes: set[str] = set()
    for i, item in enumerate(r.typed(top, "nodes", "", list, [])):
        node = read_node(r, item, f"nodes[{i}]")
        if node is None:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                failed_nodes.add(item["name"])
            continue
        if topo.has_node(node.name):
            r.fail(f"nodes[{i}].name", f"node name {node.name!r} is used twice")
            continue
        topo.graph.add_node(node.name, node=node)
    taken: set[str] = set()
    for i, item in enumerate(r.typed(top, "links", "", list, [])):
        link = read_link(r, item, f"links[{i}]", taken)
        if link is None or link.a.node in failed_nodes or link.b.node in failed_nodes:
            continue
        problems = topo._link_problems(link, i)
        if problems:
            r.errors += problems
            continue
        topo.graph.add_edge(link.a.node, link.b.node, key=link.name, link=link)
    if "lab" in top:
        topo.teaching, problems = teaching.read(top["lab"])
        r.errors += problems
    r.errors += topo.validate()
    if r.errors:
        raise TopologyErrors(r.errors)
    return topo


def loads(text: str, source: str = "") -> Topology:
    try:
        return from_document(parse_yaml(text))
    except TopologyError as e:
        raise e.located(source) from None


def load(path: str | os.PathLike[str]) -> Topology:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TopologyError("no such file", source=str(p)) from None
    except UnicodeDecodeError as e:
        raise TopologyError(f"not UTF-8 text (byte {e.start})", source=str(p)) from None
    except OSError as e:
        raise TopologyError(f"cannot read: {e.strerror}", source=str(p)) from None
    topo = loads(text, str(p))
    topo.base_dir = p.resolve().parent
    return topo


# ---- writing -------------------------------------------------------------------------------
def _node_doc(node: Node) -> dict[str, Any]:
    d: dict[str, Any] = {"name": node.name, "kind": node.kind.value}
    if node.kind.is_machine:
        if node.image != DEFAULT_IMAGE[node.kind]:
            d["image"] = node.image
        if node.memory != 128:
            d["memory"] = units.format_memory(node.memory or 0)
        if node.cpus != 1:
            d["cpus"] = node.cpus
        if node.nic is not NicModel.VIRTIO and node.nic is not None:
            d["nic"] = node.nic.value
        if node.arch != "x86_64":
            d["arch"] = node.arch
    ifaces: list[Any] = []
    for i in node.interfaces:
        extra = {k: v for k, v in (("address", i.address), ("mac", i.mac), ("vlan", i.vlan))
                 if v is not None}
        ifaces.append({"name": i.name, **extra} if extra else i.name)
    d["interfaces"] = ifaces
    if node.storages:
        d["storages"] = [{"kind": s.kind.value, "source": s.source,
                          **({"readonly": True} if s.readonly else {}),
                          **({"tag": s.tag} if s.tag else {})} for s in node.storages]
    if node.host != "local":
        d["host"] = node.host
    if node.services:
        d["services"] = node.services
    if node.notes:
        d["notes"] = node.notes
    if node.forwards:
        d["forwards"] = list(node.forwards)
    d["pos"] = [node.pos[0], node.pos[1]]
    return d


def _link_doc(link: Link) -> dict[str, Any]:
    d: dict[str, Any] = {"name": link.name}
    if link.a.params == link.b.params:
        d["a"], d["b"] = link.a.label, link.b.label
        d.update(link.a.params.to_text())
        return d
    for which, end in (("a", link.a), ("b", link.b)):
        own = end.params.to_text()
        d[which] = {"node": end.node, "iface": end.iface, **own} if own else end.label
    return d


def to_document(topo: Topology) -> dict[str, Any]:
    doc: dict[str, Any] = {"version": SCHEMA_VERSION, "name": topo.name}
    if topo.description:
        doc["description"] = topo.description
    if topo.seed is not None:
        doc["seed"] = topo.seed
    if topo.machines:
        doc["machines"] = [{k: v for k, v in vars(m).items() if v not in ("", 22) or k == "name"}
                           for m in topo.machines]
    doc["nodes"] = [_node_doc(n) for n in topo.nodes]
    doc["links"] = [_link_doc(link) for link in topo.links]
    if topo.teaching is not None:
        doc["lab"] = teaching.write(topo.teaching)
    return doc


def dumps(topo: Topology) -> str:
    return HEADER + yaml.safe_dump(to_document(topo), sort_keys=False, allow_unicode=True,
                                   default_flow_style=None, width=100)


def save(topo: Topology, path: str | os.PathLike[str], *, backup: bool = True) -> Path:
    """Write atomically: a crash at any moment leaves either the old file or the new one."""
    p = Path(path)
    text = dumps(topo)  # fully rendered before the disk is touched
    write_atomic(p, text.encode("utf-8"), backup=backup)
    return p


def write_atomic(path: Path, data: bytes, *, backup: bool = True) -> None:
    """Temp file in the same directory, fsync, keep the old file as .bak, rename over."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as e:
        raise NemuError(f"{path}: cannot write: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if backup and path.exists():
            bak = path.with_name(path.name + ".bak")
            with contextlib.suppress(FileNotFoundError):
                os.unlink(bak)
            os.link(path, bak)
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise NemuError(f"{path}: cannot write: {e.strerror}") from None
    with contextlib.suppress(OSError):
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
