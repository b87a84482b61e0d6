"""QMP against a real (machine-less) QEMU: status, hot-added netdevs, errors with names."""

import asyncio

import pytest

from engine.errors import HostError
from engine.hosts import LocalHost, ProcessState
from engine.qemu.argv import slirp_argv
from engine.qemu.qmp import Qmp


def test_qmp_status_netdev_hotplug_and_quit(tmp_path):
    async def scenario():
        host = LocalHost()
        proc = await host.start(slirp_argv("nat", tmp_path / "w.sock", tmp_path / "q.sock"),
                                log_path=tmp_path / "log")
        qmp = Qmp("nat", tmp_path / "q.sock")
        try:
            await qmp.connect(timeout=10)
            assert await qmp.status() == "running"
            await qmp.execute("netdev_add", type="stream", id="extra", server=True,
                              addr={"type": "unix", "path": str(tmp_path / "extra.sock")})
            for _ in range(50):
                if (tmp_path / "extra.sock").exists():
                    break
                await asyncio.sleep(0.02)
            assert (tmp_path / "extra.sock").exists()
            with pytest.raises(HostError, match=r"nat: QMP netdev_add failed: .*extra"):
                await qmp.execute("netdev_add", type="stream", id="extra", server=True,
                                  addr={"type": "unix", "path": str(tmp_path / "x.sock")})
            await qmp.execute("netdev_del", id="extra")
            await qmp.quit()
            return await asyncio.wait_for(host.wait(proc), 5)
        finally:
            await qmp.close()
            await host.stop(proc)

    assert asyncio.run(scenario()) is ProcessState.EXITED


def test_qmp_connect_gives_up_with_a_clear_error(tmp_path):
    with pytest.raises(HostError, match=r"ghost: QMP socket .* did not answer within 0 s"):
        asyncio.run(Qmp("ghost", tmp_path / "none.sock").connect(timeout=0.2))


def test_nic_hotplug_fills_the_root_ports_then_says_none_is_free(tmp_path):
    """A q35 machine (held before its first instruction: no guest needed) with two root ports."""
    async def scenario() -> list[str]:
        host = LocalHost()
        argv = ["qemu-system-x86_64", "-M", "q35", "-S", "-nodefaults", "-display", "none",
                "-accel", "tcg", "-qmp", f"unix:{tmp_path / 'q.sock'},server=on,wait=off"]
        for k in range(2):
            argv += ["-device", f"pcie-root-port,id=hp{k},chassis={k + 1},slot={k + 1}"]
        proc = await host.start(argv, log_path=tmp_path / "log")
        qmp = Qmp("r1", tmp_path / "q.sock")
        try:
            await qmp.connect(timeout=10)
            for i in range(2):
                await qmp.hotplug_nic(f"n{i}", tmp_path / f"n{i}.sock", "virtio-net-pci",
                                      f"52:54:00:00:00:0{i}", f"nic{i}", ["hp0", "hp1"])
            for _ in range(2):      # the failed attempt removed its netdev: same error again
                with pytest.raises(HostError, match="r1: all 2 hot-plug slots are in use"):
                    await qmp.hotplug_nic("n2", tmp_path / "n2.sock", "virtio-net-pci",
                                          "52:54:00:00:00:02", "nic2", ["hp0", "hp1"])
            devices = await qmp.execute("qom-list", path="/machine/peripheral")
            return sorted(d["name"] for d in devices if d["type"].startswith("child<"))
        finally:
            await qmp.close()
            await host.stop(proc)

    assert asyncio.run(scenario()) == ["hp0", "hp1", "nic0", "nic1"]
