"""KVM that passes the probe but kills every guest: the lab comes up under TCG, said once.

The failure is injected through the Host seam (a host that answers QEMU started with
`-accel kvm` with the abort this machine's PVM hypervisor gives: `failed to set MSR`), so the
test means the same on a machine whose KVM works. The probe itself: without a kernel to test
with it never picks KVM, and its verdict is remembered per machine.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from engine import examples
from engine.hosts import LocalHost
from engine.hosts.base import ProcessHandle
from engine.images import accel
from engine.images.accel import AccelChoice, choose_accel, probe_kvm
from engine.images.builder import Builder, find_image
from engine.session.events import NodeState, Problem
from engine.session.session import Session

KVM_ABORT = ("qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\n"
             "qemu-system-x86_64: ../../target/i386/kvm/kvm.c:3183: kvm_buf_set_msrs: "
             "Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.\n")


class KvmKillsGuests(LocalHost):
    """This machine, where a QEMU asked for KVM aborts as on a nested PVM host."""

    def __init__(self) -> None:
        super().__init__()
        self.kvm_starts = 0

    async def start(self, argv: Sequence[str], *, label: str = "", cwd: Path | None = None,
                    env: Mapping[str, str] | None = None,
                    log_path: Path | None = None) -> ProcessHandle:
        args = [str(a) for a in argv]
        if "-accel" in args and args[args.index("-accel") + 1] == "kvm":
            self.kvm_starts += 1
            script = f"sleep 0.3; printf %s {shlex.quote(KVM_ABORT)} >&2; kill -ABRT $$"
            args = ["sh", "-c", script]
        return await super().start(args, label=label, cwd=cwd, env=env, log_path=log_path)


@pytest.fixture
def own_accel_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("NEMU_ACCEL", raising=False)
    monkeypatch.setattr(accel, "_cache_file", lambda: tmp_path / "accel.json")
    monkeypatch.setattr(accel, "_cached", {})
    return tmp_path / "accel.json"


@pytest.mark.qemu
def test_guests_dying_under_kvm_fall_back_to_tcg_once(engine, tmp_path, own_accel_cache):
    host = KvmKillsGuests()
    s = Session.create(examples.two_hosts(), base=tmp_path / "sessions", host=host)
    s.accel = AccelChoice("kvm", "the probe passed (injected)")
    events: list = []
    s.subscribe(events.append)
    try:
        engine.run(s.up())
        assert s.states["h1"] is NodeState.RUNNING and s.states["h2"] is NodeState.RUNNING
        assert host.kvm_starts >= 1
        problems = [e for e in events if isinstance(e, Problem)]
        assert len(problems) == 1, problems                 # said once, for both guests
        assert problems[0].message.startswith("KVM failed here: ")
        assert "failed to set MSR" in problems[0].message or "kvm_buf_set_msrs" in \
            problems[0].message
        assert problems[0].message.endswith("; using TCG")
        assert s.accel is not None and s.accel.accel == "tcg"
        assert s.dir.read_state()["accel"] == "tcg"
        r = engine.run(s.node("h1").run("ping -c 1 -W 3 10.0.0.2"))
        assert r.exitcode == 0, r.stdout + r.stderr
        # the next command on this machine does not try KVM again
        assert engine.run(choose_accel(host)).accel == "tcg"
        assert "KVM failed here" in own_accel_cache.read_text()
    finally:
        engine.run(s.down())


def test_without_a_kernel_the_probe_never_picks_kvm(tmp_path, monkeypatch):
    monkeypatch.delenv("NEMU_ACCEL", raising=False)
    monkeypatch.setenv("NEMU_CACHE_DIR", str(tmp_path / "empty-cache"))
    choice = asyncio.run(probe_kvm(LocalHost()))
    assert choice.accel == "tcg", choice
    assert choice.reason


def test_a_verdict_is_remembered_per_machine_and_refreshed_on_demand(own_accel_cache):
    host = LocalHost()
    if find_image("host") is None:          # the probe's test kernel comes with an image
        asyncio.run(Builder(host).build("host"))
    assert accel.cache_key(host) is not None
    first = asyncio.run(choose_accel(host))
    assert own_accel_cache.exists()
    accel._cached.clear()
    accel.remember(host, AccelChoice(first.accel, "remembered"))
    accel._cached.clear()
    assert asyncio.run(choose_accel(host)).reason == "remembered"     # no probe
    again = asyncio.run(choose_accel(host, refresh=True))
    assert again.accel == first.accel and again.reason != "remembered"
