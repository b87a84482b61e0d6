"""The QEMU command line of a node, socket placement, and accelerator choice."""

import asyncio
from pathlib import Path

import pytest

from engine.hosts import LocalHost
from engine.images.accel import AccelChoice, boot_sector, probe_kvm
from engine.images.qemu_boot import (
    HOTPLUG_SLOTS,
    BootError,
    MachineSpec,
    NicSpec,
    qemu_argv,
    socket_dir,
)


def spec(tmp_path: Path, **kw) -> MachineSpec:
    return MachineSpec(name="h1", disk=tmp_path / "disk.qcow2",
                       agent_socket=tmp_path / "agent.sock",
                       accel=AccelChoice("tcg", "test"), kernel=tmp_path / "vmlinux",
                       initrd=tmp_path / "initrd.img", cmdline="console=ttyS0 quiet",
                       config=tmp_path / "config.sh", console_socket=tmp_path / "console.sock",
                       console_log=tmp_path / "console.log", qmp_socket=tmp_path / "qmp.sock",
                       **kw)


def pairs(argv: list[str]) -> list[tuple[str, str]]:
    return [(argv[i], argv[i + 1]) for i in range(len(argv) - 1) if argv[i].startswith("-")]


def test_argv_has_kernel_config_agent_console_and_nics(tmp_path):
    s = spec(tmp_path, nics=[NicSpec("52:54:00:00:00:01", "user,restrict=on"),
                             NicSpec("52:54:00:00:00:02", "socket,connect=127.0.0.1:5000",
                                     "e1000"),
                             NicSpec("52:54:00:00:00:03", "user,restrict=on", "rtl8139")])
    argv = qemu_argv(s)
    p = pairs(argv)
    assert argv[0] == "qemu-system-x86_64"
    assert ("-accel", "tcg,tb-size=32") in p and ("-m", "128") in p
    assert ("-kernel", str(tmp_path / "vmlinux")) in p
    assert ("-bios", "qboot.rom") in p          # the fast firmware for direct kernel boot
    assert ("-M", "q35") in p
    assert [b for a, b in p if a == "-device" and b.startswith("pcie-root-port")] == [
        f"pcie-root-port,id=hp{k},chassis={k + 1},slot={k + 1}" for k in range(HOTPLUG_SLOTS)]
    assert ("-initrd", str(tmp_path / "initrd.img")) in p
    assert ("-append", "console=ttyS0 quiet") in p
    assert ("-fw_cfg", f"name=opt/nemu/config,file={tmp_path / 'config.sh'}") in p
    assert ("-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0") in p
    assert any(a == "-chardev" and f"path={tmp_path / 'agent.sock'},server=on,wait=off" in b
               for a, b in p)
    assert ("-serial", "chardev:con0") in p
    assert ("-device", "virtio-net-pci,netdev=net0,mac=52:54:00:00:00:01,id=nic0") in p
    assert ("-device", "e1000,netdev=net1,mac=52:54:00:00:00:02,id=nic1") in p
    assert ("-device", "rtl8139,netdev=net2,mac=52:54:00:00:00:03,id=nic2") in p
    assert ("-netdev", "socket,connect=127.0.0.1:5000,id=net1") in p


def test_user_disk_boots_without_kernel_and_bad_nic_model_is_refused(tmp_path):
    s = spec(tmp_path)
    s.kernel = None
    argv = qemu_argv(s)
    assert "-kernel" not in argv and "-append" not in argv
    assert "-bios" not in argv                  # a disk boots through SeaBIOS
    s.nics = [NicSpec("52:54:00:00:00:01", "user", "ne2k")]
    with pytest.raises(BootError, match="ne2k"):
        qemu_argv(s)


def test_long_node_dirs_get_short_socket_dirs(tmp_path):
    assert socket_dir(tmp_path) == tmp_path
    deep = tmp_path / ("x" * 120)
    short = socket_dir(deep)
    assert short != deep and len(str(short / "console.sock")) < 100
    assert socket_dir(deep) == short


def test_accel_override_and_probe(monkeypatch):
    assert len(boot_sector()) == 512 and boot_sector()[-2:] == b"\x55\xaa"
    monkeypatch.setenv("NEMU_ACCEL", "tcg")
    choice = asyncio.run(probe_kvm(LocalHost()))
    assert choice.accel == "tcg" and "NEMU_ACCEL" in choice.reason
    monkeypatch.delenv("NEMU_ACCEL")
    real = asyncio.run(probe_kvm(LocalHost()))
    assert real.accel in ("kvm", "tcg") and real.reason
    assert real.qemu_args()[0] == "-accel"


def test_user_supplied_disk_gets_an_overlay_and_no_kernel(tmp_path):
    from engine.images.qemu_boot import prepare_node
    disk = tmp_path / "user.img"
    disk.write_bytes(boot_sector() + bytes(1024 * 1024 - 512))
    host = LocalHost()
    s = asyncio.run(prepare_node(host, "u1", tmp_path / "u1", disk, AccelChoice("tcg", "t")))
    assert s.kernel is None and s.ready_file is None and s.memory_mb == 256
    info = asyncio.run(host.run(["qemu-img", "info", str(s.disk)])).text
    assert "backing file format: raw" in info and str(disk) in info
    assert "-kernel" not in qemu_argv(s)
