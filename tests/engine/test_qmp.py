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
