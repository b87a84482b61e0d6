"""A node's architecture: `arch: i386` with the default image `host` boots `host-i386` under
qemu-system-i386, next to an x86_64 node on the same link; an arch without an image is refused
clearly, before anything starts.
"""

from __future__ import annotations

import psutil
import pytest

from engine import examples
from engine.errors import SessionError
from engine.images.accel import AccelChoice
from engine.images.builder import Image
from engine.model import Interface, Node, NodeKind, Topology
from engine.plan.addressing import MachinePlan
from engine.session.machines import machine_image, prepare_machine
from engine.session.session import Session

NO_IMAGE = (r"node r9: no i386 image for image 'lab' \(it is built for x86_64 and there is "
            r"no recipe 'lab-i386'\); choose an image built for i386 or set the node's arch "
            r"to x86_64")


@pytest.fixture
def lab_recipe_only(tmp_path, monkeypatch):
    """Recipes where `lab` (x86_64) has no i386 variant."""
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "lab.yaml").write_text("kernel: {package: linux-image-amd64}\n")
    monkeypatch.setenv("NEMU_IMAGES_DIR", str(recipes))


def test_node_arch_picks_the_image_variant():
    assert machine_image(Node("h1", NodeKind.HOST)) == "host"
    assert machine_image(Node("h1", NodeKind.HOST, arch="i386")) == "host-i386"
    assert machine_image(Node("r1", NodeKind.ROUTER, arch="i386")) == "router-i386"
    assert machine_image(Node("h1", NodeKind.HOST, image="host-i386", arch="i386")) == "host-i386"
    assert machine_image(Node("h1", NodeKind.HOST, image="/x/my.qcow2", arch="i386")) == \
        "/x/my.qcow2"
    with pytest.raises(SessionError, match="no x86_64 image for image 'host-i386'"):
        machine_image(Node("h1", NodeKind.HOST, image="host-i386"))


def test_an_image_without_that_arch_is_named(lab_recipe_only):
    with pytest.raises(SessionError, match=NO_IMAGE):
        machine_image(Node("r9", NodeKind.ROUTER, image="lab", arch="i386"))


def test_a_disk_keeps_its_images_arch(engine, tmp_path):
    """A node whose overlay is on an x86_64 image cannot switch arch without a disk reset."""
    image = Image(name="host", hash="0", directory=tmp_path, kernel=tmp_path / "vmlinux",
                  initrd=tmp_path / "initrd.img", disk=tmp_path / "base.qcow2", cmdline="",
                  memory_mb=128, kernel_version="6", packages=(), checks=(), built_at=0.0)
    node = Node("h1", NodeKind.HOST, arch="i386")
    with pytest.raises(SessionError, match=r"node h1: its disk is built on image 'host' for "
                       r"x86_64, not i386; reset the node's disk"):
        engine.run(prepare_machine(None, node, MachinePlan("h1"), tmp_path, image,  # type: ignore[arg-type]
                                   AccelChoice("tcg", "test"), {}))


def test_an_arch_without_an_image_is_refused_before_anything_starts(engine, tmp_path,
                                                                     lab_recipe_only):
    t = Topology(name="old")
    t.add_node(Node("r9", NodeKind.ROUTER, [Interface("eth0", "10.0.0.2/24")], image="lab",
                    arch="i386"))
    s = Session.create(t, base=tmp_path)
    s.accel = AccelChoice("tcg", "test")
    try:
        with pytest.raises(SessionError, match=NO_IMAGE):
            engine.run(s.up(), timeout=60)
        assert not s.registry.roles()
    finally:
        engine.run(s.down())


@pytest.mark.qemu
def test_i386_and_x86_64_hosts_ping_each_other(engine, tmp_path):
    t = examples.two_hosts()
    t.node("h2").arch = "i386"
    s = Session.create(t, base=tmp_path)
    try:
        engine.run(s.up(), timeout=600)
        pids = {role: proc.pid for role, proc in s.registry.items()}
        cmdlines = {role: psutil.Process(pid).cmdline() for role, pid in pids.items()}
        qemus = {role: c[0].rsplit("/", 1)[-1] for role, c in cmdlines.items()
                 if "qemu-system" in c[0]}
        assert sorted(qemus.values()) == ["qemu-system-i386", "qemu-system-x86_64"], qemus
        assert engine.run(s.node("h2").run("uname -m")).stdout.strip() == b"i686"
        assert engine.run(s.node("h1").run("uname -m")).stdout.strip() == b"x86_64"
        for src, dst in (("h1", "10.0.0.2"), ("h2", "10.0.0.1")):
            r = engine.run(s.node(src).run(f"ping -c 2 -W 3 {dst}"))
            assert r.exitcode == 0, r.stdout + r.stderr
    finally:
        engine.run(s.down())
    for pid in pids.values():
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
