"""QEMU command lines, argument by argument; a real QEMU checks the slirp one."""

from pathlib import Path

from engine.images.accel import AccelChoice
from engine.images.qemu_boot import MachineSpec, NicSpec, qemu_argv
from engine.model import Storage, StorageKind
from engine.qemu.argv import PortForward, qemu_binary, slirp_argv, storage_args

D = Path("/s")
TCG = AccelChoice("tcg", "test")


def spec(**kw) -> MachineSpec:
    base = dict(name="h1", disk=D / "h1.qcow2", agent_socket=D / "a", accel=TCG)
    base.update(kw)
    return MachineSpec(**base)


def pairs(argv: list[str]) -> list[tuple[str, str]]:
    return [(argv[i], argv[i + 1]) for i in range(1, len(argv) - 1) if argv[i].startswith("-")
            and not argv[i + 1].startswith("-")]


def test_machine_cpus_arch_and_storages_from_the_model():
    argv = qemu_argv(spec(cpus=2, arch="i386", storages=[
        Storage(StorageKind.VIRTFS, "/srv", True, "share")]))
    assert argv[0] == "qemu-system-i386"
    p = pairs(argv)
    assert ("-smp", "2") in p
    assert ("-virtfs", "local,path=/srv,mount_tag=share,security_model=none,id=fs0,"
            "readonly=on") in p


def test_nics_of_every_model_carry_ids_for_hot_plug():
    nics = [NicSpec("52:54:00:00:00:01", "stream,server=on,addr.type=unix,addr.path=/s/e0"),
            NicSpec("52:54:00:00:00:02", "stream,server=on,addr.type=unix,addr.path=/s/e1",
                    "e1000"),
            NicSpec("52:54:00:00:00:03", "stream,server=on,addr.type=unix,addr.path=/s/e2",
                    "rtl8139")]
    p = pairs(qemu_argv(spec(nics=nics)))
    assert ("-netdev", "stream,server=on,addr.type=unix,addr.path=/s/e0,id=net0") in p
    assert ("-device", "virtio-net-pci,netdev=net0,mac=52:54:00:00:00:01,id=nic0") in p
    assert ("-device", "e1000,netdev=net1,mac=52:54:00:00:00:02,id=nic1") in p
    assert ("-device", "rtl8139,netdev=net2,mac=52:54:00:00:00:03,id=nic2") in p


def test_architectures():
    assert qemu_binary("i386") == "qemu-system-i386"
    assert qemu_binary("sparc64") == "qemu-system-sparc64"


def test_storages_of_the_seed_paper():
    assert storage_args(Storage(StorageKind.VIRTFS, "/srv", True, "share"), 0) == [
        "-virtfs", "local,path=/srv,mount_tag=share,security_model=none,id=fs0,readonly=on"]
    assert storage_args(Storage(StorageKind.FAT, "/dir"), 1) == [
        "-drive", "file=fat:rw:/dir,format=raw,if=virtio,id=st1"]
    assert storage_args(Storage(StorageKind.FAT, "/dir", readonly=True), 1) == [
        "-drive", "file=fat:/dir,format=raw,if=virtio,id=st1,readonly=on"]
    assert storage_args(Storage(StorageKind.SQUASHFS, "/t.sqfs"), 2) == [
        "-drive", "file=/t.sqfs,format=raw,if=virtio,readonly=on,id=st2"]
    assert storage_args(Storage(StorageKind.NBD, "nbd://127.0.0.1:10809/x"), 3)[1].startswith(
        "file=nbd://127.0.0.1:10809/x,format=raw")


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
