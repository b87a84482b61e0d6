"""Teaching labs as files: the `lab:` section read strictly, written back, and its locks."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import topofile
from engine.errors import LockedError, TopologyErrors
from engine.model.teaching import LockMode

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "examples" / "labs" / "static-routing" / "lab.yaml"


def with_lab(section: str) -> str:
    """The two-host example with a `lab:` section."""
    return (REPO / "examples" / "two-hosts.yaml").read_text() + "lab:\n" + section


def errors_of(text: str) -> list[str]:
    with pytest.raises(TopologyErrors) as e:
        topofile.loads(text, "lab.yaml")
    return [str(x) for x in e.value.errors]


def test_the_example_lab_reads_and_writes_back_the_same():
    topo = topofile.load(LAB)
    lab = topo.teaching
    assert lab is not None and lab.title == "Static routing between two LANs"
    assert lab.time_limit == 45 * 60 * 10**9
    assert [c.kind for c in lab.checks] == ["command", "command", "command", "ping", "link"]
    assert lab.total_points == 6
    assert lab.lock_on(node="gw") is not None and lab.lock_on(node="h1") is None
    again = topofile.loads(topofile.dumps(topo))
    assert again.teaching == lab
    assert topofile.dumps(again) == topofile.dumps(topo)


@pytest.mark.parametrize(("section", "expected"), [
    ("  checks: []\n", "lab.yaml: lab.title: a lab needs a title"),
    ("  title: t\n  checks:\n  - {title: x, dance: {}}\n",
     "lab.yaml: lab.checks[0].dance: unknown kind of check 'dance'"),
    ("  title: t\n  checks:\n  - {title: x, service: {node: h1, name: dhcp}}\n",
     "lab.yaml: lab.checks[0].service: service checks are not supported yet (they need "
     "router services)"),
    ("  title: t\n  checks:\n  - {title: x, ping: {from: h1}}\n",
     "lab.yaml: lab.checks[0].ping: missing key 'to'"),
    ("  title: t\n  checks:\n  - {title: x, command: {node: h1, run: ls, match: '('}}\n",
     "lab.yaml: lab.checks[0].command.match: not a regular expression"),
    ("  title: t\n  checks:\n  - {title: x, ping: {from: h9, to: h2}}\n",
     "lab.yaml: lab.checks[0]: no node named 'h9'"),
    ("  title: t\n  checks:\n  - {title: x, link: {name: h1-h2, param: colour, value: red}}\n",
     "lab.yaml: lab.checks[0].link.param: unknown link parameter 'colour'"),
    ("  title: t\n  locks:\n  - {node: h1, mode: secret}\n",
     "lab.yaml: lab.locks[0].mode: expected read-only or hidden"),
    ("  title: t\n  locks:\n  - {link: nope}\n", "lab.yaml: lab.locks[0]: no link named 'nope'"),
    ("  title: t\n  time_limit: soon\n", "lab.yaml: lab.time_limit: cannot read 'soon'"),
])
def test_a_bad_lab_section_is_refused_with_its_place(section, expected):
    errors = errors_of(with_lab(section))
    assert any(e.startswith(expected) for e in errors), errors


def test_locks_refuse_edits_and_say_what_is_locked():
    topo = topofile.loads(with_lab(
        "  title: t\n  locks:\n  - {node: h2, mode: read-only}\n"
        "  - {link: h1-h2, param: delay, mode: hidden}\n"))
    lab = topo.teaching
    assert lab is not None and lab.hidden(link="h1-h2", param="delay")
    assert not lab.hidden(link="h1-h2", param="bandwidth")
    assert lab.lock_on(link="h1-h2", param="delay").mode is LockMode.HIDDEN
    with pytest.raises(LockedError, match=r"link h1-h2 delay is locked by the lab \(hidden\)"):
        topo.set_link_params("h1-h2", "both", delay="5ms")
    topo.set_link_params("h1-h2", "both", bandwidth="5Mbit")          # not locked
    with pytest.raises(LockedError, match=r"node h2 is locked by the lab \(read-only\)"):
        topo.update_node("h2", memory=256)
    for edit in (lambda: topo.remove_node("h2"), lambda: topo.rename_node("h2", "hx"),
                 lambda: topo.remove_link("h1-h2"), lambda: topo.connect("h1", "h2")):
        with pytest.raises(LockedError, match="node h2 is locked"):
            edit()
    assert topo.has_node("h2") and [lk.name for lk in topo.links] == ["h1-h2"]
    topo.update_node("h2", pos=(5.0, 5.0))                  # moving it on the canvas is fine
    topo.enforce_locks = False                              # the teacher edits the lab
    topo.update_node("h2", memory=256)
    assert topo.node("h2").memory == 256
