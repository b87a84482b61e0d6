"""Legacy i386 nodes: the `host-i386` image, built rootless from Debian's i386 packages with its
own apt lists in nemu's cache (the system's apt state untouched), booted by qemu-system-i386.

The live test builds into a fresh store for this module (packages and the unpacked kernel come
from the user cache, so a second run downloads nothing). Every QEMU started is stopped by PID.
"""

from __future__ import annotations

import asyncio
import json
import struct
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
    debs,
    elf,
    kernel,
    mac_for,
    prepare_node,
    rootfs,
)
from engine.images.qemu_boot import qemu_argv
from engine.images.recipe import RecipeError, load_recipe


def test_host_i386_recipe_inherits_host_with_its_arch():
    host, i386 = load_recipe("host"), load_recipe("host-i386")
    assert host.arch == "x86_64" and host.debian_arch == "amd64"
    assert "arch" not in host.raw          # the x86_64 recipes (and their hashes) are unchanged
    assert i386.arch == "i386" and i386.debian_arch == "i386"
    assert i386.kernel_package == "linux-image-686"
    assert set(host.packages) <= set(i386.packages) and set(host.checks) <= set(i386.checks)
    assert "usr/lib/i386-linux-gnu/gconv" in i386.prune
    assert i386.hash() != host.hash()


def test_unknown_arch_in_a_recipe_is_refused(tmp_path: Path):
    (tmp_path / "x.yaml").write_text("arch: sparc\nkernel: {package: linux-image-sparc64}\n")
    with pytest.raises(RecipeError, match=r"`arch` must be one of x86_64, i386, not 'sparc'"):
        load_recipe("x", tmp_path)


def test_elf_reader_reads_32_bit_files(tmp_path: Path):
    # A minimal ELF32 i386 program: one PT_INTERP header, a .dynamic with DT_NEEDED libc.so.6.
    strtab = b"\0libc.so.6\0"
    dyn = struct.pack("<iIiI", 1, 1, 0, 0)
    ehdr_len, phdr_len, sh_len = 52, 32, 40
    str_off = ehdr_len + phdr_len
    dyn_off = str_off + len(strtab)
    sh_off = dyn_off + len(dyn)
    ehdr = (b"\x7fELF\x01\x01\x01" + bytes(9)
            + struct.pack("<HHIIIIIHHHHHH", 2, 3, 1, 0, ehdr_len, sh_off, 0, ehdr_len,
                          phdr_len, 1, sh_len, 3, 0))
    phdr = struct.pack("<IIIIIIII", 3, 0, 0, 0, 0, 0, 4, 1)
    sections = (bytes(sh_len)
                + struct.pack("<IIIIIIIIII", 0, 3, 0, 0, str_off, len(strtab), 0, 0, 1, 0)
                + struct.pack("<IIIIIIIIII", 0, 6, 0, 0, dyn_off, len(dyn), 1, 0, 4, 8))
    prog = tmp_path / "prog"
    prog.write_bytes(ehdr + phdr + strtab + dyn + sections)
    info = elf.read_elf(prog)
    assert info is not None
    assert info.bits == 32 and info.is_program and info.needed == ("libc.so.6",)
    # ...and the library check looks for it in the i386 library directories
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/prog").write_bytes(prog.read_bytes())
    (root / "usr/bin/prog").chmod(0o755)
    assert rootfs.missing_libraries(root, rootfs.LIB_DIRS_BY_ARCH["i386"]) == {
        "libc.so.6": ["usr/bin/prog"]}
    (root / "usr/lib/i386-linux-gnu").mkdir(parents=True)
    (root / "usr/lib/i386-linux-gnu/libc.so.6").write_bytes(b"")
    rootfs.check_libraries(root, "t", "i386")
    with pytest.raises(rootfs.RootfsError, match=r"libc\.so\.6"):
        rootfs.check_libraries(root, "t", "x86_64")


def test_foreign_apt_lists_live_in_nemus_cache_and_resolve_i386(tmp_path: Path):
    """Real apt, real Debian mirror: i386 lists fetched as an unprivileged cache, then the
    686 kernel metapackage resolves to its versioned i386 package."""
    host = LocalHost()

    async def main() -> None:
        opts = await debs.foreign_apt(host, "i386", base=tmp_path / "apt")
        assert any((tmp_path / "apt/state/lists").glob("*i386_Packages*"))
        assert f"Dir::State={tmp_path / 'apt/state'}" in opts
        kpkg = await debs.kernel_package(host, "linux-image-686", opts)
        assert kpkg.startswith("linux-image-6.") and kpkg.endswith("-686")
        uris = await debs.uris(host, ["busybox-static"], opts)
        assert uris[0].filename.endswith("_i386.deb")
        # fresh lists are not fetched again
        stamp = (tmp_path / "apt/updated").stat().st_mtime
        assert await debs.foreign_apt(host, "i386", base=tmp_path / "apt") == opts
        assert (tmp_path / "apt/updated").stat().st_mtime == stamp
    asyncio.run(main())


@pytest.fixture(scope="module", params=["host-i386", "router-i386"])
def image(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Image:
    store = tmp_path_factory.mktemp("images386")
    return asyncio.run(Builder(LocalHost(), store=store).build(request.param))


@pytest.mark.qemu
def test_i386_images_build_and_boot_with_qemu_system_i386(image: Image, tmp_path: Path):
    assert image.arch == "i386"
    manifest = json.loads((image.directory / "manifest.json").read_text())
    assert manifest["arch"] == "i386" and manifest["kernel_version"].endswith("-686")
    assert all(p.endswith(("_i386.deb", "_all.deb")) for p in manifest["packages"])
    # Debian's 686 kernel has no PVH entry: QEMU boots the bzImage.
    assert image.kernel.name == "vmlinuz"
    elf_kernel = kernel.decompress_bzimage(image.kernel.read_bytes())
    assert elf_kernel is not None and elf_kernel[4] == 1 and not kernel.has_pvh_note(elf_kernel)
    assert image.size_bytes() <= 40 * 10**6

    async def main() -> None:
        host = LocalHost()
        node_dir = tmp_path / "old1"
        node_dir.mkdir()
        sock = node_dir / "nic0.sock"
        nic = NicSpec(mac_for("old1", 0), f"stream,server=on,addr.type=unix,addr.path={sock}")
        cfg = NodeConfig(hostname="old1",
                         interfaces=[InterfaceConfig("eth0", nic.mac, ["10.7.0.1/24"])])
        spec = await prepare_node(host, "old1", node_dir, image, await choose_accel(host), cfg,
                                  [nic])
        assert Path(qemu_argv(spec)[0]).name == "qemu-system-i386"
        m = GuestMachine(host, spec)
        try:
            await m.start(agent_timeout=180)

            async def run(cmd: str) -> str:
                res = await m.agent.exec(cmd, timeout=60)
                assert res.ok, f"{cmd!r} exited {res.exitcode}: {res.text}"
                return res.stdout.decode(errors="replace")

            assert (await run("uname -m")).strip() == "i686"
            link = await run("ip link")
            assert mac_for("old1", 0) in link and "eth0" in link
            assert "iperf 3" in await run("iperf3 --version")
            assert "10.7.0.1/24" in await run("ip -o addr show eth0")
            for check in image.checks:
                await run(check)
            # the overlay forwarder reads a 32-bit clock here (another syscall and timespec)
            await run("nemu-fwd relay --listen 7001 --report 0 > /tmp/sink.json 2>&1 & sleep 1;"
                      " nemu-fwd source --to 127.0.0.1:7001 --bytes 100000 --chunk 1000; sleep 1")
            sink = [json.loads(x) for x in
                    (await m.agent.read_file("/tmp/sink.json")).decode().splitlines()]
            assert sink[-1]["total_bytes"] == 100000 and sink[-1]["total_chunks"] == 100
            assert 0 <= sink[0]["delay_ms_avg"] < 10_000, sink
        finally:
            await m.stop()
            assert not m.running
    asyncio.run(main())
