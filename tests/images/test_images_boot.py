"""Build both images from their recipes and boot them in QEMU (TCG here; KVM where it works).

Images are built into a fresh store for this module (packages and the unpacked kernel come from
the user cache, so a second run downloads nothing). Every QEMU started is stopped by PID.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from engine.hosts import LocalHost
from engine.images import (
    Builder,
    GuestMachine,
    Image,
    InterfaceConfig,
    NicSpec,
    NodeConfig,
    choose_accel,
    mac_for,
    prepare_node,
)

pytestmark = pytest.mark.qemu
MAX_COMPRESSED = 40 * 10**6


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("images")


@pytest.fixture(scope="module")
def images(store: Path) -> Iterator[dict[str, Image]]:
    builder = Builder(LocalHost(), store=store)
    yield {name: asyncio.run(builder.build(name)) for name in ("host", "router")}


def unlinked_nic(node_dir: Path, name: str, index: int, model: str = "virtio") -> NicSpec:
    """A NIC whose backend is a unix stream socket QEMU listens on (nobody connects)."""
    sock = node_dir / f"nic{index}.sock"
    return NicSpec(mac_for(name, index),
                   f"stream,server=on,addr.type=unix,addr.path={sock}", model)


@asynccontextmanager
async def booted(image: Image, node_dir: Path, name: str, config: NodeConfig | None = None,
                 models: tuple[str, ...] = ("virtio",)) -> AsyncIterator[GuestMachine]:
    host = LocalHost()
    node_dir.mkdir(parents=True, exist_ok=True)
    nics = [unlinked_nic(node_dir, name, i, m) for i, m in enumerate(models)]
    config = config or NodeConfig(hostname=name, interfaces=[
        InterfaceConfig(f"eth{i}", nic.mac) for i, nic in enumerate(nics)])
    spec = await prepare_node(host, name, node_dir, image, await choose_accel(host), config, nics)
    machine = GuestMachine(host, spec)
    try:
        await machine.start(agent_timeout=180)
        yield machine
    finally:
        await machine.stop()
        assert not machine.running


async def run_ok(m: GuestMachine, cmd: str) -> str:
    res = await m.agent.exec(cmd, timeout=60)
    out = (res.stdout + res.stderr).decode(errors="replace")
    assert res.ok, f"{cmd!r} exited {res.exitcode}: {out}"
    return out


def test_images_built_small_and_cached(images: dict[str, Image], store: Path):
    for img in images.values():
        for f in (img.kernel, img.initrd, img.disk):
            assert f.stat().st_size > 0
        assert img.size_bytes() <= MAX_COMPRESSED, f"{img.name}: {img.size_bytes()} bytes"
    assert images["host"].size_bytes() < images["router"].size_bytes()
    t0 = time.monotonic()
    again = asyncio.run(Builder(LocalHost(), store=store).build("router"))
    assert time.monotonic() - t0 < 1.0
    assert again.directory == images["router"].directory


def test_host_boots_and_answers_through_the_agent(images: dict[str, Image], tmp_path: Path):
    image = images["host"]
    cfg = NodeConfig(
        hostname="h1",
        interfaces=[InterfaceConfig("eth0", mac_for("h1", 0), ["10.9.0.1/24"])],
        routes=["default via 10.9.0.254"], ssh_keys=["ssh-ed25519 AAAAtest nemu@test"],
        services=["ssh"])

    async def main() -> None:
        async with booted(image, tmp_path / "h1", "h1", cfg) as m:
            for check in image.checks:
                await run_ok(m, check)
            assert "Linux h1" in await run_ok(m, "uname -a")
            assert "iperf 3" in await run_ok(m, "iperf3 --version")
            link = await run_ok(m, "ip -o link show eth0")
            assert mac_for("h1", 0) in link
            assert "10.9.0.1/24" in await run_ok(m, "ip -o addr show eth0")
            assert "default via 10.9.0.254" in await run_ok(m, "ip route")
            keys = await m.agent.read_file("/root/.ssh/authorized_keys")
            assert keys == b"ssh-ed25519 AAAAtest nemu@test\n"
            # dropbear listens (started after the agent: give it a moment)
            await run_ok(m, "for i in $(seq 50); do nc -z 127.0.0.1 22 && exit 0; "
                            "sleep 0.2; done; exit 1")
            # the overlay forwarder: source -> relay -> sink, inside the guest
            await run_ok(m, "nemu-fwd relay --listen 7001 --report 0 > /tmp/sink.json 2>&1 &"
                            " nemu-fwd relay --listen 7000 --to 127.0.0.1:7001 --report 0 "
                            "> /tmp/relay.json 2>&1 & sleep 1; nemu-fwd source "
                            "--to 127.0.0.1:7000 --bytes 200000 --chunk 1000; sleep 1")
            sink = [json.loads(x) for x in
                    (await m.agent.read_file("/tmp/sink.json")).decode().splitlines()]
            assert sink[-1]["total_bytes"] == 200000 and sink[-1]["total_chunks"] == 200
            assert sink[0]["delay_ms_avg"] is not None and sink[0]["delay_ms_avg"] >= 0
    asyncio.run(main())


def test_router_runs_every_service(images: dict[str, Image], tmp_path: Path):
    image = images["router"]
    cfg = NodeConfig(hostname="r1",
                     interfaces=[InterfaceConfig("eth0", mac_for("r1", 0), ["10.8.0.1/24"])],
                     sysctls={"net.ipv4.ip_forward": "1"},
                     services=["ssh", "dnsmasq", "http", "ntp", "bird", "nfs"])

    async def main() -> None:
        async with booted(image, tmp_path / "r1", "r1", cfg) as m:
            for check in image.checks:
                await run_ok(m, check)
            assert (await run_ok(m, "cat /proc/sys/net/ipv4/ip_forward")).strip() == "1"
            ready = ("for i in $(seq 100); do {} && exit 0; sleep 0.2; done; exit 1")
            await run_ok(m, ready.format("wget -qO- http://127.0.0.1/ | grep -q nemu"))
            await run_ok(m, ready.format("birdc show status | grep -q 'Daemon is up'"))
            await run_ok(m, ready.format("pidof dnsmasq"))
            await run_ok(m, ready.format("pidof chronyd"))
            await run_ok(m, ready.format("grep -q '+4' /proc/fs/nfsd/versions"))
            await run_ok(m, "nft add table inet t && nft list tables | grep -q 'inet t'")
            await run_ok(m, "iptables -A INPUT -p tcp --dport 9 -j DROP && iptables -S | grep 9")
            await run_ok(m, "tc qdisc add dev eth0 root netem delay 10ms && "
                            "tc qdisc show dev eth0 | grep netem")
            mem = await run_ok(m, "free -m")
            assert int(mem.splitlines()[1].split()[1]) <= 128
    asyncio.run(main())


def test_nic_models_virtio_e1000_rtl8139(images: dict[str, Image], tmp_path: Path):
    async def main() -> None:
        async with booted(images["host"], tmp_path / "n", "n",
                          models=("virtio", "e1000", "rtl8139")) as m:
            drivers = {}
            for i in range(3):
                out = await run_ok(m, f"basename $(readlink /sys/class/net/eth{i}/device/driver)"
                                      f"; cat /sys/class/net/eth{i}/address")
                drv, mac = out.split()
                assert mac == mac_for("n", i), (i, drv, out)
                drivers[i] = drv
            assert drivers[0] == "virtio_net" and drivers[1] == "e1000"
            assert drivers[2] in ("8139cp", "8139too")
    asyncio.run(main())


def test_overlay_changes_persist_per_node(images: dict[str, Image], tmp_path: Path):
    image = images["host"]
    base_before = image.disk.stat().st_mtime_ns

    async def main() -> None:
        async with booted(image, tmp_path / "a", "a") as a:
            await run_ok(a, "echo written-by-a > /root/persist.txt && sync")
            await a.poweroff(timeout=60)
            assert not a.running
        async with booted(image, tmp_path / "a", "a") as a:
            assert await a.agent.read_file("/root/persist.txt") == b"written-by-a\n"
        async with booted(image, tmp_path / "b", "b") as b:
            res = await b.agent.exec("test -e /root/persist.txt")
            assert res.exitcode == 1
    asyncio.run(main())
    assert image.disk.stat().st_mtime_ns == base_before


def test_ssh_login_with_the_configured_key(images: dict[str, Image], tmp_path: Path):
    """dropbear accepts the node configuration's key; QEMU forwards 127.0.0.1 only."""
    import socket

    host = LocalHost()
    key = tmp_path / "id_ed25519"
    asyncio.run(host.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)]))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mac = mac_for("s1", 0)
    cfg = NodeConfig(hostname="s1", interfaces=[InterfaceConfig("eth0", mac, ["10.0.2.15/24"])],
                     ssh_keys=[(tmp_path / "id_ed25519.pub").read_text()], services=["ssh"])

    async def main() -> None:
        node = tmp_path / "s1"
        spec = await prepare_node(host, "s1", node, images["host"], await choose_accel(host), cfg,
                                  [NicSpec(mac, "user,restrict=on,net=10.0.2.0/24,"
                                                f"hostfwd=tcp:127.0.0.1:{port}-10.0.2.15:22")])
        machine = GuestMachine(host, spec)
        try:
            await machine.start(agent_timeout=180)
            await run_ok(machine, "for i in $(seq 50); do nc -z 127.0.0.1 22 && exit 0; "
                                  "sleep 0.2; done; exit 1")
            res = await host.run(["ssh", "-i", str(key), "-p", str(port), "-o", "BatchMode=yes",
                                  "-o", "StrictHostKeyChecking=no",
                                  "-o", f"UserKnownHostsFile={tmp_path / 'known_hosts'}",
                                  "root@127.0.0.1", "hostname; id -u"], timeout=60)
            assert res.text.split() == ["s1", "0"]
        finally:
            await machine.stop()
    asyncio.run(main())
