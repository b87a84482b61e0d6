"""QEMU command lines, argument by argument; a real QEMU checks the slirp one."""

from pathlib import Path

from engine.model import NicModel, Storage, StorageKind
from engine.qemu.argv import (
    BootSpec,
    MachineSpec,
    NicSpec,
    PortForward,
    machine_argv,
    qemu_binary,
    slirp_argv,
    storage_args,
)

D = Path("/s")


def spec(**kw) -> MachineSpec:
    base = dict(name="h1", disk=D / "h1.qcow2", qmp_socket=D / "q", console_socket=D / "c",
                console_log=D / "c.log", agent_socket=D / "a")
    base.update(kw)
    return MachineSpec(**base)


def pairs(argv: list[str]) -> list[tuple[str, str]]:
    return [(argv[i], argv[i + 1]) for i in range(1, len(argv) - 1) if argv[i].startswith("-")
            and not argv[i + 1].startswith("-")]


def test_machine_basics_tcg():
    argv = machine_argv(spec(memory=96, cpus=2))
    assert argv[0] == "qemu-system-x86_64"
    p = pairs(argv)
    assert ("-accel", "tcg,tb-size=64") in p and ("-m", "96") in p and ("-smp", "2") in p
    assert "-cpu" not in argv
    assert ("-drive", "file=/s/h1.qcow2,format=qcow2,if=virtio,cache=writeback,id=root") in p
    assert ("-mon", "chardev=qmp,mode=control") in p
    assert ("-chardev", "socket,id=console,path=/s/c,server=on,wait=off,logfile=/s/c.log,"
            "logappend=on") in p
    assert ("-serial", "chardev:console") in p
    assert ("-device", "virtserialport,chardev=qga,name=org.qemu.guest_agent.0") in p


def test_kvm_uses_host_cpu():
    argv = machine_argv(spec(accel="kvm"))
    assert ("-accel", "kvm") in pairs(argv) and ("-cpu", "host") in pairs(argv)


def test_kernel_boot_and_config_in_fw_cfg():
    argv = machine_argv(spec(boot=BootSpec(Path("/k"), Path("/i"), "console=ttyS0 quiet"),
                             config=D / "config"))
    p = pairs(argv)
    assert ("-kernel", "/k") in p and ("-initrd", "/i") in p
    assert ("-append", "console=ttyS0 quiet") in p
    assert ("-fw_cfg", "name=opt/nemu/config,file=/s/config") in p


def test_nics_each_model_listen_on_their_socket():
    nics = [NicSpec("eth0", "52:54:00:00:00:01", D / "eth0.sock"),
            NicSpec("eth1", "52:54:00:00:00:02", D / "eth1.sock", NicModel.E1000),
            NicSpec("eth2", "52:54:00:00:00:03", D / "eth2.sock", NicModel.RTL8139)]
    p = pairs(machine_argv(spec(nics=nics)))
    assert ("-netdev", "stream,id=net0,server=on,addr.type=unix,addr.path=/s/eth0.sock") in p
    assert ("-device", "virtio-net-pci,netdev=net0,mac=52:54:00:00:00:01,id=nic0") in p
    assert ("-device", "e1000,netdev=net1,mac=52:54:00:00:00:02,id=nic1") in p
    assert ("-device", "rtl8139,netdev=net2,mac=52:54:00:00:00:03,id=nic2") in p


def test_storages_of_the_seed_paper():
    assert storage_args(Storage(StorageKind.VIRTFS, "/srv", True, "share"), 0) == [
        "-virtfs", "local,path=/srv,mount_tag=share,security_model=none,id=fs0,readonly=on"]
    assert storage_args(Storage(StorageKind.FAT, "/dir"), 1) == [
        "-drive", "file=fat:rw:/dir,format=raw,if=virtio,id=st1"]
    assert storage_args(Storage(StorageKind.SQUASHFS, "/t.sqfs"), 2) == [
        "-drive", "file=/t.sqfs,format=raw,if=virtio,readonly=on,id=st2"]
    assert storage_args(Storage(StorageKind.NBD, "nbd://127.0.0.1:10809/x"), 3)[1].startswith(
        "file=nbd://127.0.0.1:10809/x,format=raw")


def test_architectures():
    assert qemu_binary("i386") == "qemu-system-i386"
    assert machine_argv(spec(arch="i386"))[0] == "qemu-system-i386"
    assert qemu_binary("sparc64") == "qemu-system-sparc64"


def test_slirp_forwards():
    argv = slirp_argv("nat", D / "w.sock", D / "q",
                      [PortForward("tcp", 2222, "10.0.2.15", 22)])
    assert "user,id=user0,net=10.0.2.0/24,hostfwd=tcp:127.0.0.1:2222-10.0.2.15:22" in argv
    assert ("-M", "none") in pairs(argv)


def arp_request(mac: bytes, src: str, dst: str) -> bytes:
    import socket
    import struct
    eth = b"\xff" * 6 + mac + b"\x08\x06"
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + socket.inet_aton(src) + b"\0" * 6 \
        + socket.inet_aton(dst)
    return eth + arp + b"\0" * 18


def test_a_real_slirp_answers_arp_through_its_stream_socket(tmp_path):
    """The NAT node really is QEMU -M none joined to a stream socket by a hub."""
    import asyncio
    import socket
    import struct

    from engine.hosts import LocalHost, ProcessState

    async def scenario() -> bytes:
        host = LocalHost()
        wire = tmp_path / "w.sock"
        proc = await host.start(slirp_argv("nat", wire, tmp_path / "q.sock"),
                                log_path=tmp_path / "nat.log")
        try:
            for _ in range(100):
                if wire.exists():
                    break
                await asyncio.sleep(0.05)
            reader, writer = await asyncio.open_unix_connection(str(wire))
            mac = bytes.fromhex("525400abcdef")
            frame = arp_request(mac, "10.0.2.15", "10.0.2.2")
            writer.write(struct.pack("!I", len(frame)) + frame)
            await writer.drain()
            n = struct.unpack("!I", await asyncio.wait_for(reader.readexactly(4), 5))[0]
            reply = await reader.readexactly(n)
            writer.close()
            return reply
        finally:
            assert await host.stop(proc) in (ProcessState.EXITED, ProcessState.KILLED)
            assert host.state(proc) is not ProcessState.RUNNING

    reply = asyncio.run(scenario())
    assert reply[:6] == bytes.fromhex("525400abcdef")       # to us
    assert reply[12:14] == b"\x08\x06"                       # an ARP
    assert reply[28:32] == socket.inet_aton("10.0.2.2")      # from the NAT gateway
