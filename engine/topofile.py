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
    BOOL_PARAMS,
    DirectionParams,
    Endpoint,
    Interface,
    Link,
    Machine,
    NicModel,
    Node,
    NodeKind,
    Storage,
    StorageKind,
    Topology,
)
from engine.model.node import DEFAULT_IMAGE, service_problems

SCHEMA_VERSION = 1
HEADER = "# nemu topology (see docs/file-format.md)\n"

# Migrations from an older schema: MIGRATIONS[n] turns a raw version-n document (the parsed YAML,
# not yet checked) into a version-n+1 one; the loader then sets its `version` to n+1. They run
# before any check, so a step may rename or move keys the current schema no longer allows.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


# ---- YAML with duplicate-key detection -----------------------------------------------------
class _StrictLoader(yaml.SafeLoader):
    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """A scalar PyYAML matches but Python cannot build (an int of 5000 digits, a 30th of
        February) is a YAML error at its line, not a ValueError escaping the loader."""
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as e:
            text = str(node.value)
            short = text if len(text) <= 24 else text[:20] + "..."
            kind = str(node.tag).rpartition(":")[2]
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {short!r} as {kind} ({str(e).split(':')[0]})",
                node.start_mark) from None


def _mapping_no_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if isinstance(key, list | dict):  # unhashable: would leak a TypeError
            raise yaml.constructor.ConstructorError(
                None, None, f"a key must be text or a number, got {_kind(key)}",
                key_node.start_mark)
        if key in seen:
            mark = key_node.start_mark
            raise TopologyError(f"key {key!r} appears twice in one mapping",
                                f"line {mark.line + 1}, column {mark.column + 1}")
        seen[key] = True
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                              _mapping_no_duplicates)


def _parse_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise TopologyError(f"not valid YAML: {e.problem or e.context}", where) from None
    except yaml.YAMLError as e:
        raise TopologyError(f"not valid YAML: {e}") from None
    except RecursionError:
        raise TopologyError("not valid YAML: nested too deeply") from None


# ---- reading -------------------------------------------------------------------------------
class _Reader:
    """Walks a parsed document, collecting every error with its path."""

    def __init__(self) -> None:
        self.errors: list[TopologyError] = []

    def fail(self, where: str, message: str) -> None:
        self.errors.append(TopologyError(message, where))

    def mapping(self, data: Any, where: str, required: set[str], optional: set[str]
                ) -> dict[str, Any] | None:
        if not isinstance(data, dict):
            self.fail(where, f"expected a mapping, got {_kind(data)}")
            return None
        ok = True
        for key in data:
            if key not in required | optional:
                known = ", ".join(sorted(required | optional))
                self.fail(_at(where, str(key)), f"unknown key {key!r} (allowed here: {known})")
                ok = False
        for key in sorted(required - set(data)):
            self.fail(where, f"missing key {key!r}")
            ok = False
        return data if ok else None

    def typed(self, data: dict[str, Any], key: str, where: str, kind: type | tuple[type, ...],
              default: Any = None) -> Any:
        if key not in data:
            return default
        value = data[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            names = "true or false" if kind is bool else kind.__name__ if isinstance(
                kind, type) else " or ".join(k.__name__ for k in kind)
            self.fail(_at(where, key), f"expected {names}, got {_kind(value)}")
            return default
        return value

    def fields(self, data: dict[str, Any], where: str, kinds: dict[str, type]
               ) -> dict[str, Any] | None:
        """The keys of `data` that `kinds` names, each checked for its type (never coerced:
        str(None) would make a path 'None'); None if any is wrong."""
        before = len(self.errors)
        out = {k: self.typed(data, k, where, kinds[k]) for k in data if k in kinds}
        return out if len(self.errors) == before else None


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    names: dict[type, str] = {dict: "a mapping", list: "a list", str: f"text {value!r}"}
    return names.get(type(value), f"{type(value).__name__} {value!r}")


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


NODE_KEYS = {"kind", "interfaces", "image", "memory", "cpus", "nic", "arch", "storages", "host",
             "pos", "services", "notes", "forwards"}
PARAM_KEYS = set(DirectionParams.__dataclass_fields__)


def _read_node(r: _Reader, data: Any, where: str) -> Node | None:
    d = r.mapping(data, where, {"name", "kind"}, NODE_KEYS - {"kind"})
    if d is None:
        return None
    before = len(r.errors)
    name = r.typed(d, "name", where, str)
    try:
        kind = NodeKind(d["kind"])
    except ValueError:
        r.fail(_at(where, "kind"), f"unknown kind {d['kind']!r} (use one of: "
               + ", ".join(k.value for k in NodeKind) + ")")
        return None
    interfaces = []
    for j, item in enumerate(r.typed(d, "interfaces", where, list, [])):
        iw = f"{where}.interfaces[{j}]"
        try:
            if isinstance(item, str):
                interfaces.append(Interface(item))
            else:
                m = r.mapping(item, iw, {"name"}, {"address", "mac", "vlan"})
                f = None if m is None else r.fields(
                    {k: v for k, v in m.items() if v is not None or k == "name"}, iw,
                    {"name": str, "address": str, "mac": str, "vlan": int})
                if f is not None:
                    interfaces.append(Interface(**f))
        except TopologyError as e:
            r.fail(_at(iw, e.where), e.message)
        except TypeError:
            r.fail(iw, "interface fields have the wrong type")
    fields: dict[str, Any] = {"name": name, "kind": kind, "interfaces": interfaces}
    if "memory" in d:
        try:
            fields["memory"] = units.parse_memory(d["memory"], "")
        except units.UnitError as e:
            r.fail(_at(where, "memory"), str(e))
    fields["cpus"] = r.typed(d, "cpus", where, int)
    if "nic" in d:
        try:
            fields["nic"] = NicModel(d["nic"])
        except ValueError:
            r.fail(_at(where, "nic"), f"unknown NIC model {d['nic']!r} (use one of: "
                   + ", ".join(m.value for m in NicModel) + ")")
    for key in ("image", "arch"):
        fields[key] = r.typed(d, key, where, str)
    fields["host"] = r.typed(d, "host", where, str, "local")
    fields["notes"] = r.typed(d, "notes", where, str, "")
    forwards = r.typed(d, "forwards", where, list, [])
    if not all(isinstance(f, str) for f in forwards):
        r.fail(_at(where, "forwards"), "expected a list of 'tcp:2222:h1:22' strings")
    fields["forwards"] = [str(f) for f in forwards]
    pos = d.get("pos", [0.0, 0.0])
    if (not isinstance(pos, list) or len(pos) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pos)):
        r.fail(_at(where, "pos"), f"expected [x, y] numbers, got {_kind(pos)}")
    elif any(isinstance(v, int) and abs(v) > 1e308 for v in pos):  # float() would overflow
        r.fail(_at(where, "pos"), "expected [x, y] numbers of at most 1e308, got a number of "
               f"{max(len(str(abs(v))) for v in pos)} digits")
    else:
        fields["pos"] = (float(pos[0]), float(pos[1]))  # Node refuses NaN and infinities
    services = r.typed(d, "services", where, dict, {})
    for place, message in service_problems(services):
        r.fail(_at(where, place), message)
    fields["services"] = services
    storages = []
    for j, item in enumerate(r.typed(d, "storages", where, list, [])):
        sw = f"{where}.storages[{j}]"
        m = r.mapping(item, sw, {"kind", "source"}, {"readonly", "tag"})
        f = None if m is None else r.fields(m, sw, {"source": str, "readonly": bool, "tag": str})
        if m is None or f is None:
            continue
        if not f["source"]:
            r.fail(_at(sw, "source"), "a storage needs a source (a file, a directory or an "
                   "nbd:// address)")
            continue
        try:
            storages.append(Storage(StorageKind(m["kind"]), f["source"],
                                    f.get("readonly", False), f.get("tag", "")))
        except ValueError:
            r.fail(_at(sw, "kind"), f"unknown storage kind {m['kind']!r} (use one of: "
                   + ", ".join(k.value for k in StorageKind) + ")")
    fields["storages"] = storages
    if len(r.errors) > before:
        return None
    try:
        return Node(**fields)
    except TopologyError as e:
        r.fail(_at(where, e.where), e.message)
        return None


def _read_params(r: _Reader, data: dict[str, Any], where: str, base: DirectionParams
                 ) -> DirectionParams | None:
    before = len(r.errors)
    for key in sorted(BOOL_PARAMS & set(data)):
        r.typed(data, key, where, bool)  # 'down' or 'no' in a file is a mistake, not False
    if len(r.errors) > before:
        return None
    try:
        return DirectionParams.from_text({k: v for k, v in data.items() if k in PARAM_KEYS},
                                         base, where)
    except TopologyError as e:
        r.fail(e.where, e.message)
        return None


def _read_endpoint(r: _Reader, data: Any, where: str, base: DirectionParams
                   ) -> Endpoint | None:
    if isinstance(data, str):
        node, sep, iface = data.partition(".")
        if not sep or not node or not iface:
            r.fail(where, f"expected 'node.interface' (e.g. 'h1.eth0'), got {data!r}")
            return None
        return Endpoint(node, iface, base)
    d = r.mapping(data, where, {"node", "iface"}, PARAM_KEYS)
    if d is None:
        return None
    node, iface = r.typed(d, "node", where, str), r.typed(d, "iface", where, str)
    params = _read_params(r, d, where, base)
    if node is None or iface is None or params is None:
        return None
    return Endpoint(node, iface, params)


def _read_link(r: _Reader, data: Any, where: str, taken: set[str]) -> Link | None:
    d = r.mapping(data, where, {"a", "b"}, {"name"} | PARAM_KEYS)
    if d is None:
        return None
    both = _read_params(r, d, where, DirectionParams())
    if both is None:
        return None
    a = _read_endpoint(r, d["a"], _at(where, "a"), both)
    b = _read_endpoint(r, d["b"], _at(where, "b"), both)
    if a is None or b is None:
        return None
    name = r.typed(d, "name", where, str) or f"{a.node}-{b.node}"
    if name in taken:
        if "name" in d:
            r.fail(_at(where, "name"), f"link name {name!r} is used twice")
            return None
        n = 2
        while f"{name}-{n}" in taken:
            n += 1
        name = f"{name}-{n}"
    taken.add(name)
    return Link(name, a, b)


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
        raise TopologyError(f"expected a whole number, got {_kind(version)}", "version")
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
            raise TopologyError(f"upgrading from schema {version} gave {_kind(doc)}, not a "
                                "mapping", "version")
        version += 1
        doc["version"] = version
    return doc


def from_document(doc: Any) -> Topology:
    """Build a Topology from a parsed document, raising TopologyErrors listing every problem.

    An older document is migrated first (see `migrate`); the checks are the current schema's.
    """
    r = _Reader()
    top = r.mapping(migrate(doc), "", {"version"},
                    {"name", "description", "seed", "machines", "nodes", "links"})
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
            r.fail(_at(where, e.where), e.message)
        except TypeError:
            r.fail(where, "machine fields have the wrong type")
    names = [m.name for m in topo.machines]
    for i, n in enumerate(names):
        if n in names[:i]:
            r.fail(f"machines[{i}].name", f"machine name {n!r} is used twice")
    failed_nodes: set[str] = set()
    for i, item in enumerate(r.typed(top, "nodes", "", list, [])):
        node = _read_node(r, item, f"nodes[{i}]")
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
        link = _read_link(r, item, f"links[{i}]", taken)
        if link is None or link.a.node in failed_nodes or link.b.node in failed_nodes:
            continue
        problems = topo._link_problems(link, i)
        if problems:
            r.errors += problems
            continue
        topo.graph.add_edge(link.a.node, link.b.node, key=link.name, link=link)
    r.errors += topo.validate()
    if r.errors:
        raise TopologyErrors(r.errors)
    return topo


def loads(text: str, source: str = "") -> Topology:
    try:
        return from_document(_parse_yaml(text))
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
