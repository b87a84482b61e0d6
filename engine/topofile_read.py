"""Reading a topology document: strict YAML, and the readers of nodes and links.

Every problem is collected with its path (``nodes[2].kind``) by a `Reader`, so a file's errors
are all reported at once. `engine.topofile` puts these together (and migrates old files).
"""

from __future__ import annotations

from typing import Any

import yaml

from engine import units
from engine.errors import TopologyError
from engine.model import (
    BOOL_PARAMS,
    USER_PARAMS,
    DirectionParams,
    Endpoint,
    Interface,
    Link,
    NicModel,
    Node,
    NodeKind,
    Storage,
    StorageKind,
)
from engine.model.node import service_problems


# ---- YAML with duplicate-key detection -----------------------------------------------------
class StrictLoader(yaml.SafeLoader):
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


def _mapping_no_duplicates(loader: StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if isinstance(key, list | dict):  # unhashable: would leak a TypeError
            raise yaml.constructor.ConstructorError(
                None, None, f"a key must be text or a number, got {kind_of(key)}",
                key_node.start_mark)
        if key in seen:
            mark = key_node.start_mark
            raise TopologyError(f"key {key!r} appears twice in one mapping",
                                f"line {mark.line + 1}, column {mark.column + 1}")
        seen[key] = True
    return loader.construct_mapping(node)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                              _mapping_no_duplicates)


def parse_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=StrictLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise TopologyError(f"not valid YAML: {e.problem or e.context}", where) from None
    except yaml.YAMLError as e:
        raise TopologyError(f"not valid YAML: {e}") from None
    except RecursionError:
        raise TopologyError("not valid YAML: nested too deeply") from None


# ---- reading -------------------------------------------------------------------------------
class Reader:
    """Walks a parsed document, collecting every error with its path."""

    def __init__(self) -> None:
        self.errors: list[TopologyError] = []

    def fail(self, where: str, message: str) -> None:
        self.errors.append(TopologyError(message, where))

    def mapping(self, data: Any, where: str, required: set[str], optional: set[str]
                ) -> dict[str, Any] | None:
        if not isinstance(data, dict):
            self.fail(where, f"expected a mapping, got {kind_of(data)}")
            return None
        ok = True
        for key in data:
            if key not in required | optional:
                known = ", ".join(sorted(required | optional))
                self.fail(at(where, str(key)), f"unknown key {key!r} (allowed here: {known})")
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
            self.fail(at(where, key), f"expected {names}, got {kind_of(value)}")
            return default
        return value

    def fields(self, data: dict[str, Any], where: str, kinds: dict[str, type]
               ) -> dict[str, Any] | None:
        """The keys of `data` that `kinds` names, each checked for its type (never coerced:
        str(None) would make a path 'None'); None if any is wrong."""
        before = len(self.errors)
        out = {k: self.typed(data, k, where, kinds[k]) for k in data if k in kinds}
        return out if len(self.errors) == before else None


def kind_of(value: Any) -> str:
    if value is None:
        return "nothing"
    names: dict[type, str] = {dict: "a mapping", list: "a list", str: f"text {value!r}"}
    return names.get(type(value), f"{type(value).__name__} {value!r}")


def at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


NODE_KEYS = {"kind", "interfaces", "image", "memory", "cpus", "nic", "arch", "storages", "host",
             "pos", "services", "notes", "forwards"}
PARAM_KEYS = set(USER_PARAMS)


def read_node(r: Reader, data: Any, where: str) -> Node | None:
    d = r.mapping(data, where, {"name", "kind"}, NODE_KEYS - {"kind"})
    if d is None:
        return None
    before = len(r.errors)
    name = r.typed(d, "name", where, str)
    try:
        kind = NodeKind(d["kind"])
    except ValueError:
        r.fail(at(where, "kind"), f"unknown kind {d['kind']!r} (use one of: "
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
            r.fail(at(iw, e.where), e.message)
        except TypeError:
            r.fail(iw, "interface fields have the wrong type")
    fields: dict[str, Any] = {"name": name, "kind": kind, "interfaces": interfaces}
    if "memory" in d:
        try:
            fields["memory"] = units.parse_memory(d["memory"], "")
        except units.UnitError as e:
            r.fail(at(where, "memory"), str(e))
    fields["cpus"] = r.typed(d, "cpus", where, int)
    if "nic" in d:
        try:
            fields["nic"] = NicModel(d["nic"])
        except ValueError:
            r.fail(at(where, "nic"), f"unknown NIC model {d['nic']!r} (use one of: "
                   + ", ".join(m.value for m in NicModel) + ")")
    for key in ("image", "arch"):
        fields[key] = r.typed(d, key, where, str)
    fields["host"] = r.typed(d, "host", where, str, "local")
    fields["notes"] = r.typed(d, "notes", where, str, "")
    forwards = r.typed(d, "forwards", where, list, [])
    if not all(isinstance(f, str) for f in forwards):
        r.fail(at(where, "forwards"), "expected a list of 'tcp:2222:h1:22' strings")
    fields["forwards"] = [str(f) for f in forwards]
    pos = d.get("pos", [0.0, 0.0])
    if (not isinstance(pos, list) or len(pos) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pos)):
        r.fail(at(where, "pos"), f"expected [x, y] numbers, got {kind_of(pos)}")
    elif any(isinstance(v, int) and abs(v) > 1e308 for v in pos):  # float() would overflow
        r.fail(at(where, "pos"), "expected [x, y] numbers of at most 1e308, got a number of "
               f"{max(len(str(abs(v))) for v in pos)} digits")
    else:
        fields["pos"] = (float(pos[0]), float(pos[1]))  # Node refuses NaN and infinities
    services = r.typed(d, "services", where, dict, {})
    for place, message in service_problems(services):
        r.fail(at(where, place), message)
    fields["services"] = services
    storages = []
    for j, item in enumerate(r.typed(d, "storages", where, list, [])):
        sw = f"{where}.storages[{j}]"
        m = r.mapping(item, sw, {"kind", "source"}, {"readonly", "tag"})
        f = None if m is None else r.fields(m, sw, {"source": str, "readonly": bool, "tag": str})
        if m is None or f is None:
            continue
        if not f["source"]:
            r.fail(at(sw, "source"), "a storage needs a source (a file, a directory or an "
                   "nbd:// address)")
            continue
        try:
            storages.append(Storage(StorageKind(m["kind"]), f["source"],
                                    f.get("readonly", False), f.get("tag", "")))
        except ValueError:
            r.fail(at(sw, "kind"), f"unknown storage kind {m['kind']!r} (use one of: "
                   + ", ".join(k.value for k in StorageKind) + ")")
    fields["storages"] = storages
    if len(r.errors) > before:
        return None
    try:
        return Node(**fields)
    except TopologyError as e:
        r.fail(at(where, e.where), e.message)
        return None


def read_params(r: Reader, data: dict[str, Any], where: str, base: DirectionParams
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


def read_endpoint(r: Reader, data: Any, where: str, base: DirectionParams
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
    params = read_params(r, d, where, base)
    if node is None or iface is None or params is None:
        return None
    return Endpoint(node, iface, params)


def read_link(r: Reader, data: Any, where: str, taken: set[str]) -> Link | None:
    d = r.mapping(data, where, {"a", "b"}, {"name"} | PARAM_KEYS)
    if d is None:
        return None
    both = read_params(r, d, where, DirectionParams())
    if both is None:
        return None
    a = read_endpoint(r, d["a"], at(where, "a"), both)
    b = read_endpoint(r, d["b"], at(where, "b"), both)
    if a is None or b is None:
        return None
    name = r.typed(d, "name", where, str) or f"{a.node}-{b.node}"
    if name in taken:
        if "name" in d:
            r.fail(at(where, "name"), f"link name {name!r} is used twice")
            return None
        n = 2
        while f"{name}-{n}" in taken:
            n += 1
        name = f"{name}-{n}"
    taken.add(name)
    return Link(name, a, b)
