"""The topology file: exact round trips, every documented error with its path, atomic save."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine import examples, topofile
from engine.errors import NemuError, TopologyError, TopologyErrors
from engine.model import NicModel, StorageKind

REPO = Path(__file__).resolve().parents[2]

GOOD = textwrap.dedent("""\
    version: 1
    name: lab
    seed: 42
    machines:
    - {name: lab2, address: 192.0.2.10, user: alice, port: 2222}
    nodes:
    - name: h1
      kind: host
      memory: 256M
      cpus: 2
      nic: rtl8139
      arch: i386
      interfaces:
      - {name: eth0, address: 10.0.0.1/24, mac: '52:54:00:00:00:01'}
      storages:
      - {kind: 9p, source: /srv/share, readonly: true, tag: share}
      host: lab2
      notes: the client
      pos: [1.5, -2.0]
    - name: r1
      kind: router
      interfaces: [eth0, eth1]
      services:
        ospf: {area: 0}
    - name: nat
      kind: slirp
      interfaces: [nat0]
      forwards: ['tcp:2222:r1:22']
    - name: sw
      kind: switch
      interfaces:
      - {name: p0, vlan: 10}
      - p1
    links:
    - name: up
      a: {node: h1, iface: eth0, bandwidth: 1Mbit, delay: 5ms}
      b: {node: r1, iface: eth0, bandwidth: 8Mbit, loss: 0.5%}
    - a: r1.eth1
      b: sw.p0
      bandwidth: 100Mbit
      jitter: 1ms
      reorder: true
      overhead: 24
      delay: 2ms
      ber: 1e-6
      ber_mode: flip
      duplicate: 0.1%
      corrupt: 0.2%
      mtu: 9000
      queue: 64
      queue_bytes: 128KiB
      up: false
    """)


def test_every_field_loads():
    t = topofile.loads(GOOD)
    h1 = t.node("h1")
    assert (h1.memory, h1.cpus, h1.nic, h1.arch, h1.host) == (256, 2, NicModel.RTL8139, "i386",
                                                               "lab2")
    assert h1.interfaces[0].mac == "52:54:00:00:00:01"
    assert h1.storages[0].kind is StorageKind.VIRTFS and h1.storages[0].readonly
    assert h1.pos == (1.5, -2.0)
    assert t.node("r1").services == {"ospf": {"area": 0}}
    assert t.node("sw").interfaces[0].vlan == 10
    assert t.node("nat").forwards == ["tcp:2222:r1:22"]
    up = t.link("up")
    assert up.a.params.bandwidth == 1_000_000 and up.b.params.bandwidth == 8_000_000
    assert up.a.params.loss == 0 and up.b.params.loss == 0.005   # 0.5%
    lan = t.link("r1-sw")
    assert lan.a.params == lan.b.params
    assert lan.a.params.up is False and lan.a.params.queue_bytes == 131072
    assert lan.a.params.reorder and lan.a.params.overhead == 24
    assert t.seed == 42
    assert t.machines[0].port == 2222


def test_round_trip_is_exact():
    t = topofile.loads(GOOD)
    text = topofile.dumps(t)
    again = topofile.loads(text)
    assert again == t
    assert topofile.dumps(again) == text


@pytest.mark.parametrize("name", sorted(examples.EXAMPLES))
def test_every_example_round_trips_and_matches_its_file(name):
    t = examples.build(name)
    text = topofile.dumps(t)
    assert topofile.loads(text) == t
    assert topofile.dumps(topofile.loads(text)) == text
    assert t.validate() == []
    assert (REPO / "examples" / f"{name}.yaml").read_text() == text, \
        f"examples/{name}.yaml is stale: run `nemu new -e {name} --force examples/{name}.yaml`"


def test_scaled_examples():
    assert len(examples.chain(16).nodes) == 16
    assert len(examples.star(10).links) == 12
    t = examples.tree(3, 3)
    assert len(t.nodes) == 1 + 3 + 9 + 27 and len(t.links) == 39
    with pytest.raises(NemuError, match="between 2 and 256"):
        examples.chain(1)
    with pytest.raises(NemuError, match="no example named"):
        examples.build("moon")


def errors_of(text: str) -> list[str]:
    with pytest.raises(TopologyError) as info:
        topofile.loads(textwrap.dedent(text), "lab.yaml")
    err = info.value
    return [str(e) for e in err.errors] if isinstance(err, TopologyErrors) else [str(err)]


BASE = """\
version: 1
nodes:
- {name: h1, kind: host, interfaces: [eth0, eth1]}
- {name: h2, kind: host, interfaces: [eth0]}
"""


@pytest.mark.parametrize(("text", "expected"), [
    ("version: 1\nnodes: [\n", "lab.yaml: line 3, column 1: not valid YAML"),
    ("- 1\n- 2\n", "lab.yaml: expected a mapping, got a list"),
    ("name: x\n", "lab.yaml: missing key 'version'"),
    ("version: 9\n", "lab.yaml: version: written by a newer nemu"),
    ("version: one\n", "lab.yaml: version: expected a whole number"),
    ("version: 1\ncolour: red\n", "lab.yaml: colour: unknown key 'colour'"),
    ("version: 1\nseed: lucky\n", "lab.yaml: seed: expected int, got text 'lucky'"),
    ("version: 1\nname: a\nname: b\n", "lab.yaml: line 3, column 1: key 'name' appears twice"),
    ("version: 1\nnodes: {}\n", "lab.yaml: nodes: expected list, got a mapping"),
    (BASE + "- {name: h1, kind: host}\n", "lab.yaml: nodes[2].name: node name 'h1' is used twice"),
    (BASE + "- {name: x, kind: laptop}\n", "lab.yaml: nodes[2].kind: unknown kind 'laptop'"),
    (BASE + "- {name: x, kind: host, ram: 1G}\n", "lab.yaml: nodes[2].ram: unknown key 'ram'"),
    (BASE + "- {name: x, kind: host, arch: 'x86 64'}\n",
     "lab.yaml: nodes[2].arch: arch 'x86 64' is not a QEMU architecture name"),
    (BASE + "- {name: x, kind: host, memory: 12K}\n", "lab.yaml: nodes[2].memory: unknown unit"),
    (BASE + "- {name: x, kind: host, cpus: two}\n", "lab.yaml: nodes[2].cpus: expected int"),
    (BASE + "- {name: x, kind: host, nic: ne2k}\n", "lab.yaml: nodes[2].nic: unknown NIC model"),
    (BASE + "- {name: x, kind: host, pos: [1]}\n", "lab.yaml: nodes[2].pos: expected [x, y]"),
    (BASE + "- {name: x, kind: host, interfaces: [{name: eth0, address: 300.1.1.1/8}]}\n",
     "lab.yaml: nodes[2].interfaces[0].address: '300.1.1.1/8' is not an address"),
    (BASE + "- {name: x, kind: switch, memory: 128M}\n",
     "lab.yaml: nodes[2].memory: a switch is not a machine"),
    (BASE + "- {name: x, kind: host, host: lab9}\n",
     "lab.yaml: nodes[2].host: node x is placed on unknown machine 'lab9'"),
    (BASE + "- {name: x, kind: host, forwards: [tcp:1:h1:2]}\n",
     "lab.yaml: nodes[2].forwards: only a slirp forwards ports"),
    (BASE + "- {name: x, kind: host, storages: [{kind: floppy, source: a}]}\n",
     "lab.yaml: nodes[2].storages[0].kind: unknown storage kind 'floppy'"),
    (BASE + "links:\n- {a: h1.eth0, b: h2.eth0, delay: -5ms}\n",
     "lab.yaml: links[0].delay: '-5ms' must be >= 0"),
    (BASE + "links:\n- {a: {node: h1, iface: eth0, delay: 5}, b: h2.eth0}\n",
     "lab.yaml: links[0].a.delay: 5 needs a unit"),
    (BASE + "links:\n- {a: h1.eth0, b: h2.eth0, bandwidth: .nan}\n",
     "lab.yaml: links[0].bandwidth: nan is not a finite number"),
    (BASE + "links:\n- {a: h1.eth0, b: h2.eth0, loss: 200%}\n",
     "lab.yaml: links[0].loss: '200%' must be between 0% and 100%"),
    (BASE + "links:\n- {a: h1.eth0, b: h2.eth0, speed: 1Mbit}\n",
     "lab.yaml: links[0].speed: unknown key 'speed'"),
    (BASE + "links:\n- {a: h1.eth0, b: h3.eth0}\n", "lab.yaml: links[0].b.node: unknown node 'h3'"),
    (BASE + "links:\n- {a: h1.eth7, b: h2.eth0}\n",
     "lab.yaml: links[0].a.iface: node h1 has no interface 'eth7' (it has: eth0, eth1)"),
    (BASE + "links:\n- {a: h1.eth0, b: h1.eth1}\n", "lab.yaml: links[0]: link joins h1 to itself"),
    (BASE + "links:\n- {a: h1, b: h2.eth0}\n", "lab.yaml: links[0].a: expected 'node.interface'"),
    (BASE + "links:\n- {a: h1.eth0, b: h2.eth0}\n- {a: h1.eth0, b: h2.eth0, name: l2}\n",
     "lab.yaml: links[1].a.iface: h1.eth0 already carries link h1-h2"),
    (BASE + "links:\n- {a: h1.eth0, b: h2.eth0, name: l}\n- {a: h1.eth1, b: h2.eth0, name: l}\n",
     "lab.yaml: links[1].name: link name 'l' is used twice"),
    (BASE + "links:\n- {b: h2.eth0}\n", "lab.yaml: links[0]: missing key 'a'"),
    ("version: 1\nnodes:\n- {name: s1, kind: switch, interfaces: [p0, p1]}\n"
     "- {name: s2, kind: hub, interfaces: [p0, p1]}\n"
     "links:\n- {a: s1.p0, b: s2.p0}\n- {a: s1.p1, b: s2.p1}\n",
     "lab.yaml: link s1-s2-2: hubs and switches joined in a loop (s1 - s2 - s1)"),
    (BASE.replace("[eth0]", "[{name: eth0, address: 10.0.0.1/24}]").replace(
        "[eth0, eth1]", "[{name: eth0, address: 10.0.0.1/24}, eth1]"),
     "address 10.0.0.1 is given to h1.eth0 too"),
    ("version: 1\nmachines:\n- {name: local, address: x}\n",
     "lab.yaml: machines[0].name: machine name 'local'"),
])
def test_documented_errors(text, expected):
    msgs = errors_of(text)
    assert any(m.startswith(expected) or expected in m for m in msgs), msgs


def test_all_errors_are_reported_at_once():
    msgs = errors_of(BASE + "- {name: x, kind: laptop}\n- {name: y, kind: host, cpus: 0}\n"
                     "links:\n- {a: h1.eth0, b: h2.eth0, delay: -1ms}\n")
    assert len(msgs) == 3


def test_load_names_the_file(tmp_path):
    with pytest.raises(TopologyError, match=r"missing\.yaml: no such file"):
        topofile.load(tmp_path / "missing.yaml")
    bad = tmp_path / "bin.yaml"
    bad.write_bytes(b"version: 1\nname: \xff\xfe\n")
    with pytest.raises(TopologyError, match=r"bin\.yaml: not UTF-8"):
        topofile.load(bad)


def test_save_is_atomic_and_keeps_a_backup(tmp_path):
    path = tmp_path / "lab.yaml"
    first = examples.two_hosts()
    topofile.save(first, path)
    second = examples.star()
    topofile.save(second, path)
    assert topofile.load(path) == second
    assert topofile.load(tmp_path / "lab.yaml.bak") == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab.yaml", "lab.yaml.bak"]


CRASH_MID_SAVE = """
import os, sys
from engine import examples, topofile
real_fdopen = os.fdopen
class Dying:
    def __init__(self, f): self.f = f
    def __enter__(self): return self
    def __exit__(self, *a): return False
    def write(self, data):
        self.f.write(data[: len(data) // 2]); self.f.flush()
        os._exit(9)   # the machine dies half-way through writing
os.fdopen = lambda fd, mode: Dying(real_fdopen(fd, mode))
topofile.save(examples.star(), sys.argv[1])
"""


def test_a_crash_mid_save_leaves_the_old_file_intact(tmp_path):
    path = tmp_path / "lab.yaml"
    topofile.save(examples.two_hosts(), path)
    before = path.read_bytes()
    proc = subprocess.run([sys.executable, "-c", CRASH_MID_SAVE, str(path)], cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, check=False)
    assert proc.returncode == 9
    assert path.read_bytes() == before
    assert topofile.load(path) == examples.two_hosts()


def test_save_into_a_missing_directory_says_so(tmp_path):
    with pytest.raises(NemuError, match="cannot write"):
        topofile.save(examples.two_hosts(), tmp_path / "nope" / "lab.yaml")


# ---- review fixes: each refusal names the place in the file and what is wrong --------------
LINK = BASE + "links:\n- {a: {node: h1, iface: eth0, %s}, b: h2.eth0}\n"


@pytest.mark.parametrize(("param", "value"), [
    ("queue_bytes: 64kiB", 65536), ("queue_bytes: 64KiB", 65536), ("queue_bytes: 64kB", 64000),
    ("queue_bytes: 64KB", 64000), ("queue_bytes: 2MiB", 2**21), ("queue_bytes: 1.6k", 1600),
    ("queue_bytes: 1GiB", 2**30),
])
def test_every_size_suffix_loads(param, value):
    t = topofile.loads(LINK % param)
    assert t.link("h1-h2").a.params.queue_bytes == value


@pytest.mark.parametrize(("param", "expected"), [
    ("queue_bytes: 64kb", "lab.yaml: links[0].a.queue_bytes: unknown unit 'kb' in '64kb' (a size "
                          "is in bytes"),
    ("queue_bytes: 64MIB", "lab.yaml: links[0].a.queue_bytes: unknown unit 'MIB'"),
    ("queue_bytes: 1.0e+999", "lab.yaml: links[0].a.queue_bytes: inf is not a finite number"),
    ("queue_bytes: " + "9" * 400, "lab.yaml: links[0].a.queue_bytes: a number of 400 digits is "
                                  "far too large"),
    ("delay: " + "9" * 400, "lab.yaml: links[0].a.delay: a number of 400 digits"),
    ("mtu: '٣٠٠٠'", "lab.yaml: links[0].a.mtu: expected a whole number, got '٣٠٠٠'"),
    ("mtu: '1_500'", "lab.yaml: links[0].a.mtu: expected a whole number, got '1_500'"),
    ("queue: " + "9" * 5000, "lab.yaml: line 6, column 38: not valid YAML: cannot read "
                             "'99999999999999999999...' as int (Exceeds the limit"),
    ("queue_bytes: 2GiB", "lab.yaml: links[0].a.queue_bytes: queue_bytes must be between one "
                          "full frame (mtu + 14 bytes) and 1 GiB (got 2147483648)"),
    ("queue_bytes: 1.0e+30", "lab.yaml: links[0].a.queue_bytes: 1e+30 is above the 1 PiB limit"),
    ("queue_bytes: 1000", "lab.yaml: links[0].a.queue_bytes: queue_bytes must be between one full "
                          "frame"),
    ("queue: 99999999999999999999", "lab.yaml: links[0].a.queue: queue must be between 1 and"),
])
def test_odd_quantities_are_refused_with_their_place(param, expected):
    msgs = errors_of(LINK % param)
    assert any(m.startswith(expected) for m in msgs), msgs


@pytest.mark.parametrize(("text", "expected"), [
    ("version: 1\n? [1, 2]\n: 3\n", "lab.yaml: line 2, column 3: not valid YAML: a key must be "
                                    "text or a number, got a list"),
    ("version: 1\nname: {{a: 1}: 2}\n", "lab.yaml: line 2, column 8: not valid YAML: a key must "
                                        "be text or a number, got a mapping"),
    ("[" * 5000, "lab.yaml: not valid YAML: nested too deeply"),
    ("version: 1\nseed: 2001-02-30\n", "lab.yaml: line 2, column 7: not valid YAML: cannot read "
                                       "'2001-02-30' as timestamp (day is out of range"),
])
def test_odd_yaml_is_a_yaml_error_never_a_crash(text, expected):
    msgs = errors_of(text)
    assert any(m.startswith(expected) for m in msgs), msgs


@pytest.mark.parametrize(("pos", "expected"), [
    ("[.nan, .inf]", "lab.yaml: nodes[2].pos: position (nan, inf) must be finite numbers"),
    ("[0, -.inf]", "lab.yaml: nodes[2].pos: position (0.0, -inf) must be finite numbers"),
    ("[1, " + "9" * 400 + "]", "lab.yaml: nodes[2].pos: expected [x, y] numbers of at most"),
    ("[1, '2']", "lab.yaml: nodes[2].pos: expected [x, y] numbers, got a list"),
    ("[true, 2]", "lab.yaml: nodes[2].pos: expected [x, y] numbers, got a list"),
])
def test_a_position_must_be_finite(pos, expected):
    msgs = errors_of(BASE + f"- {{name: x, kind: host, pos: {pos}}}\n")
    assert any(m.startswith(expected) for m in msgs), msgs


@pytest.mark.parametrize(("text", "expected"), [
    (BASE + "- {name: x, kind: host, storages: [{kind: 9p, source: /s, readonly: 'no'}]}\n",
     "lab.yaml: nodes[2].storages[0].readonly: expected true or false, got text 'no'"),
    (BASE + "- {name: x, kind: host, storages: [{kind: 9p, source: /s, readonly: 0}]}\n",
     "lab.yaml: nodes[2].storages[0].readonly: expected true or false, got int 0"),
    (BASE + "links:\n- {a: h1.eth0, b: h2.eth0, up: down}\n",
     "lab.yaml: links[0].up: expected true or false, got text 'down'"),
    (BASE + "links:\n- {a: h1.eth0, b: h2.eth0, up: 'false'}\n",
     "lab.yaml: links[0].up: expected true or false, got text 'false'"),
    (LINK % "reorder: 1", "lab.yaml: links[0].a.reorder: expected true or false, got int 1"),
    (LINK % "up: 'yes'", "lab.yaml: links[0].a.up: expected true or false, got text 'yes'"),
])
def test_booleans_must_be_yaml_booleans(text, expected):
    msgs = errors_of(text)
    assert any(m.startswith(expected) for m in msgs), msgs


def test_yaml_booleans_load():
    t = topofile.loads(BASE + "- {name: x, kind: host, storages: [{kind: 9p, source: /s, "
                       "readonly: false}]}\nlinks:\n- {a: h1.eth0, b: h2.eth0, up: false, "
                       "reorder: true}\n")
    assert t.node("x").storages[0].readonly is False
    p = t.link("h1-h2").a.params
    assert p.up is False and p.reorder is True


ROUTER = BASE + "- name: r1\n  kind: router\n  services:\n"


@pytest.mark.parametrize(("services", "expected"), [
    ("    dchp: {range: 10.0.0.100-10.0.0.199}\n",
     "lab.yaml: nodes[2].services.dchp: unknown service 'dchp' (known: bgp, dhcp, dns, http, "
     "nfs, ntp, ospf, rip); did you mean 'dhcp'?"),
    ("    dnsmasq: {}\n", "lab.yaml: nodes[2].services.dnsmasq: unknown service 'dnsmasq' (known:"),
    ("    7: {}\n", "lab.yaml: nodes[2].services.7: unknown service 7 (known:"),
    ("    dns: on\n", "lab.yaml: nodes[2].services.dns: expected a mapping of options, got bool"),
])
def test_unknown_services_are_refused(services, expected):
    msgs = errors_of(ROUTER + services)
    assert any(m.startswith(expected) for m in msgs), msgs


def test_every_known_service_loads_with_free_form_options():
    from engine.model.node import SERVICES
    text = ROUTER + "".join(f"    {name}: {{anything: [1, two]}}\n" for name in SERVICES)
    assert set(topofile.loads(text).node("r1").services) == set(SERVICES)


# ---- schema versions: old files are upgraded before they are checked ------------------------
V0 = """\
version: 0
title: old lab
elements:
- {name: h1, type: host, interfaces: [eth0]}
- {name: h2, type: host, interfaces: [eth0]}
links:
- {a: h1.eth0, b: h2.eth0, delay: 5ms}
"""


def _v0_to_v1(doc):
    """A fake past rename: 'title' became 'name', 'elements' 'nodes', a node's 'type' 'kind'."""
    doc["name"] = doc.pop("title")
    doc["nodes"] = [{("kind" if k == "type" else k): v for k, v in n.items()}
                    for n in doc.pop("elements")]
    return doc


def test_an_old_file_is_migrated_before_it_is_checked(tmp_path, monkeypatch):
    monkeypatch.setitem(topofile.MIGRATIONS, 0, _v0_to_v1)
    path = tmp_path / "old.yaml"
    path.write_text(V0)
    t = topofile.load(path)
    assert t.name == "old lab" and [n.name for n in t.nodes] == ["h1", "h2"]
    assert t.link("h1-h2").a.params.delay == 5_000_000
    assert topofile.dumps(t).startswith(topofile.HEADER + "version: 1\nname: old lab\n")
    assert path.read_text() == V0  # loading never rewrites the file


def test_migrations_run_version_by_version(monkeypatch):
    """Each step sees what the one before made, and the last one gives the current schema."""
    seen = []

    def v1_to_v2(doc):
        seen.append(doc["version"])
        doc["description"] = doc.pop("comment")
        return doc

    monkeypatch.setattr(topofile, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(topofile.MIGRATIONS, 0, lambda d: seen.append(d["version"]) or
                        _v0_to_v1(d))
    monkeypatch.setitem(topofile.MIGRATIONS, 1, v1_to_v2)
    t = topofile.loads(V0 + "comment: from schema 0\n")
    assert seen == [0, 1] and t.description == "from schema 0" and t.name == "old lab"
    seen.clear()
    v1 = "version: 1\ncomment: from schema 1\nnodes: []\n"
    assert topofile.loads(v1).description == "from schema 1" and seen == [1]


def test_an_old_file_the_current_schema_refuses_says_where_after_migration(monkeypatch):
    monkeypatch.setitem(topofile.MIGRATIONS, 0, _v0_to_v1)
    msgs = errors_of(V0.replace("type: host, interfaces: [eth0]}\nlinks",
                                "type: laptop, interfaces: [eth0]}\nlinks"))
    assert any(m.startswith("lab.yaml: nodes[1].kind: unknown kind 'laptop'") for m in msgs), msgs


def test_a_migration_that_cannot_read_an_old_file_says_so(monkeypatch):
    monkeypatch.setitem(topofile.MIGRATIONS, 0, _v0_to_v1)
    msgs = errors_of("version: 0\nelements: []\n")   # no 'title': the step raises KeyError
    assert msgs == ["lab.yaml: version: cannot upgrade from schema 0 to 1: KeyError 'title'"]


def test_a_file_older_than_every_migration_is_refused():
    assert errors_of("version: 0\nnodes: []\n") == [
        "lab.yaml: version: schema 0 is too old to read (this nemu reads schema 1)"]


def test_a_newer_file_is_refused_clearly_even_with_keys_this_nemu_does_not_know(tmp_path):
    path = tmp_path / "new.yaml"
    path.write_text("version: 2\nname: future\nnodes: []\nlayers: [l1]\nlinks: []\n")
    with pytest.raises(TopologyError) as info:
        topofile.load(path)
    assert str(info.value) == (f"{path}: version: written by a newer nemu (schema 2; this one "
                               "reads up to 1)")


@pytest.mark.parametrize(("text", "expected"), [
    ("version: 1\nmachines:\n- {name: m, address: true}\n",
     "lab.yaml: machines[0].address: expected str, got bool True"),
    ("version: 1\nmachines:\n- {name: m, address: a, port: true}\n",
     "lab.yaml: machines[0].port: expected int, got bool True"),
    ("version: 1\nmachines:\n- {name: m, address: a, port: 22.5}\n",
     "lab.yaml: machines[0].port: expected int, got float 22.5"),
    ("version: 1\nmachines:\n- {name: m, address: a, user: [x]}\n",
     "lab.yaml: machines[0].user: expected str, got a list"),
    (BASE + "- {name: x, kind: host, storages: [{kind: disk, source: }]}\n",
     "lab.yaml: nodes[2].storages[0].source: expected str, got nothing"),
    (BASE + "- {name: x, kind: host, storages: [{kind: disk, source: ''}]}\n",
     "lab.yaml: nodes[2].storages[0].source: a storage needs a source"),
    (BASE + "- {name: x, kind: host, storages: [{kind: 9p, source: /s, tag: 5}]}\n",
     "lab.yaml: nodes[2].storages[0].tag: expected str, got int 5"),
    (BASE + "- {name: x, kind: switch, interfaces: [{name: p0, vlan: true}]}\n",
     "lab.yaml: nodes[2].interfaces[0].vlan: expected int, got bool True"),
    (BASE + "- {name: x, kind: switch, interfaces: [{name: p0, vlan: 1.5}]}\n",
     "lab.yaml: nodes[2].interfaces[0].vlan: expected int, got float 1.5"),
    (BASE + "- {name: x, kind: host, interfaces: [{name: eth0, mac: 5}]}\n",
     "lab.yaml: nodes[2].interfaces[0].mac: expected str, got int 5"),
])
def test_fields_must_have_their_type_not_be_coerced(text, expected):
    msgs = errors_of(text)
    assert any(m.startswith(expected) for m in msgs), msgs
