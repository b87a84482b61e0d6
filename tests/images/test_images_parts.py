"""The builder's pure parts: dependency parsing, cpio, ELF reading, module selection, rootfs."""

import gzip
import os
import shutil
from pathlib import Path

import pytest

from engine.images import cpio, kmods, rootfs
from engine.images.debs import _choose, parse_depends
from engine.images.elf import read_elf

DEPENDS = """\
iproute2
 |Depends: debconf
  Depends: <debconf-2.0>
    cdebconf
    debconf
  Depends: libbpf1
  Depends: libc6
lighttpd
  PreDepends: init-system-helpers
 |Depends: media-types
  Depends: mime-support
  Depends: lsb-base
    sysvinit-utils
"""


def test_parse_depends_groups_alternatives_and_providers():
    deps = parse_depends(DEPENDS)
    assert deps["iproute2"] == [["debconf", "<debconf-2.0>", "cdebconf", "debconf"],
                                ["libbpf1"], ["libc6"]]
    assert deps["lighttpd"][0] == ["init-system-helpers"]
    assert deps["lighttpd"][1] == ["media-types", "mime-support"]
    assert deps["lighttpd"][2] == ["lsb-base", "sysvinit-utils"]


def test_choose_skips_excluded_and_satisfied_groups():
    excl = {"debconf", "cdebconf"}
    assert _choose(["debconf", "<debconf-2.0>", "cdebconf", "debconf"], set(), excl) is None
    assert _choose(["libc6"], set(), excl) == "libc6"
    assert _choose(["a", "b"], {"b"}, set()) is None
    assert _choose(["a", "b"], set(), {"a"}) == "b"


def read_newc(path: Path) -> dict[str, tuple[int, bytes]]:
    data = gzip.decompress(path.read_bytes())
    out: dict[str, tuple[int, bytes]] = {}
    pos = 0
    while True:
        assert data[pos:pos + 6] == b"070701"
        f = [int(data[pos + 6 + i * 8: pos + 14 + i * 8], 16) for i in range(13)]
        mode, uid, size, namesize = f[1], f[2], f[6], f[11]
        name_start = pos + 110
        name = data[name_start:name_start + namesize - 1].decode()
        pos = name_start + namesize
        pos += -pos % 4
        body = data[pos:pos + size]
        pos += size + (-size % 4)
        if name == "TRAILER!!!":
            return out
        assert uid == 0
        out[name] = (mode, body)


def test_initramfs_is_newc_owned_by_root(tmp_path):
    src = tmp_path / "tree"
    (src / "bin").mkdir(parents=True)
    (src / "init").write_text("#!/bin/sh\necho hi\n")
    (src / "init").chmod(0o755)
    (src / "bin" / "sh").symlink_to("busybox")
    entries = read_newc(Path(tmp_path / "x.gz") if cpio.write_initramfs(src, tmp_path / "x.gz")
                        else tmp_path / "none")
    assert entries["init"] == (0o100755, b"#!/bin/sh\necho hi\n")
    assert entries["bin/sh"] == (0o120777, b"busybox")
    assert entries["bin"][0] & 0o170000 == 0o040000


def test_read_elf_of_a_real_program():
    info = read_elf(Path(shutil.which("ls") or "/bin/ls"))
    assert info is not None and info.is_program
    assert "libc.so.6" in info.needed
    assert read_elf(Path(__file__)) is None


def test_missing_libraries_names_program_and_library(tmp_path):
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    shutil.copy2(shutil.which("ls") or "/bin/ls", root / "usr/bin/ls")
    missing = rootfs.missing_libraries(root)
    assert "libc.so.6" in missing and missing["libc.so.6"] == ["usr/bin/ls"]
    with pytest.raises(rootfs.RootfsError, match=r"libc\.so\.6: needed by usr/bin/ls"):
        rootfs.check_libraries(root, "t")


def test_merge_usr_and_copy_tree(tmp_path):
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "busybox").write_text("bb")
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin" / "perl").write_text("perl")
    (root / "lib/x86_64-linux-gnu").mkdir(parents=True)
    (root / "lib/x86_64-linux-gnu/libc.so.6").write_text("libc")
    rootfs.merge_usr(root)
    assert os.readlink(root / "bin") == "usr/bin"
    assert (root / "bin/busybox").read_text() == "bb"
    assert (root / "usr/lib/x86_64-linux-gnu/libc.so.6").exists()
    guest = tmp_path / "guest"
    (guest / "sbin").mkdir(parents=True)
    (guest / "sbin/tool").write_text("t")
    (guest / "sbin/tool").chmod(0o755)
    (guest / "etc").mkdir()
    (guest / "etc/link").symlink_to("/proc/mounts")
    (guest / "etc/shadow").write_text("root:*:1::::::\n")
    (guest / "etc/shadow").chmod(0o644)              # as a fresh clone has it
    (guest / "etc/motd").write_text("hi\n")
    (guest / "etc/motd").chmod(0o600)                # a private umask in the checkout
    rootfs.copy_tree(guest, root)
    assert (root / "usr/sbin/tool").stat().st_mode & 0o777 == 0o755
    assert (root / "etc/shadow").stat().st_mode & 0o777 == 0o600
    assert (root / "etc/motd").stat().st_mode & 0o777 == 0o644
    assert os.readlink(root / "etc/link") == "/proc/mounts"
    rootfs.make_skeleton(root)
    assert (root / "proc").is_dir() and (root / "tmp").stat().st_mode & 0o1777 == 0o1777
    assert rootfs.prune(root, ["usr/bin/perl"]) == 4


def test_module_selection_follows_dependencies(tmp_path):
    moddir = tmp_path / "6.1.0-test"
    for rel in ("kernel/drivers/net/virtio_net.ko", "kernel/net/core/failover.ko",
                "kernel/drivers/net/net_failover.ko", "kernel/net/sched/sch_netem.ko",
                "kernel/net/sched/sch_tbf.ko"):
        (moddir / rel).parent.mkdir(parents=True, exist_ok=True)
        (moddir / rel).write_bytes(b"\0" * 10)
    (moddir / "modules.dep").write_text(
        "kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko "
        "kernel/net/core/failover.ko\n"
        "kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko\n"
        "kernel/net/core/failover.ko:\nkernel/net/sched/sch_netem.ko:\n"
        "kernel/net/sched/sch_tbf.ko:\n")
    (moddir / "modules.builtin").write_text("kernel/drivers/virtio/virtio_pci.ko\n")
    chosen = kmods.select(moddir, ["virtio-net", "virtio_pci"])
    assert chosen == ["kernel/drivers/net/net_failover.ko", "kernel/drivers/net/virtio_net.ko",
                      "kernel/net/core/failover.ko"]
    assert kmods.select(moddir, ["net/sched/*.ko"]) == [
        "kernel/net/sched/sch_netem.ko", "kernel/net/sched/sch_tbf.ko"]
    with pytest.raises(kmods.ModuleError, match="e1000"):
        kmods.select(moddir, ["e1000"])
    dst = tmp_path / "out"
    assert kmods.copy_modules(moddir, dst, chosen) == 30
    assert (dst / "modules.builtin").exists()


def test_module_signature_is_stripped():
    body = b"\x7fELF" + b"x" * 100
    sig = b"S" * 40
    info = bytes([0, 0, 2, 0, 0, 0, 0, 0]) + len(sig).to_bytes(4, "big")
    signed = body + sig + info + b"~Module signature appended~\n"
    assert kmods.strip_signature(signed) == body
    assert kmods.strip_signature(body) == body


def test_vmlinux_from_a_bzimage_payload(tmp_path):
    import lzma
    import struct

    from engine.images import kernel
    # a minimal ELF64 with one PT_NOTE holding the Xen PVH entry note, and one PT_LOAD
    note = struct.pack("<III", 4, 4, 18) + b"Xen\0" + struct.pack("<I", 0x1000000)
    ehdr = bytearray(64)
    ehdr[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<Q", ehdr, 0x20, 64)
    struct.pack_into("<HH", ehdr, 0x36, 56, 2)
    note_off, load_off = 64 + 2 * 56, 4096
    ph_note = struct.pack("<IIQQQQQQ", 4, 4, note_off, 0, 0, len(note), len(note), 4)
    ph_load = struct.pack("<IIQQQQQQ", 1, 5, load_off, 0, 0, 3 * 4096, 3 * 4096, 4096)
    elf = bytes(ehdr) + ph_note + ph_load + note
    elf += bytes(load_off - len(elf)) + b"code" + bytes(3 * 4096 - 4)
    bz = b"MZ setup code" + lzma.compress(elf, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32)
    (tmp_path / "vmlinuz").write_bytes(bz)
    assert kernel.make_vmlinux(tmp_path / "vmlinuz", tmp_path / "vmlinux")
    out = (tmp_path / "vmlinux").read_bytes()
    assert len(out) == len(elf) and out[load_off:load_off + 4] == b"code"
    # the zero tail of the PT_LOAD is now memsz-only
    filesz, memsz = struct.unpack_from("<QQ", out, 64 + 56 + 32)
    assert (filesz, memsz) == (4096, 3 * 4096)
    (tmp_path / "plain").write_bytes(b"no kernel here")
    assert not kernel.make_vmlinux(tmp_path / "plain", tmp_path / "x")


def test_build_names_a_missing_tool_and_its_package(monkeypatch, tmp_path):
    import asyncio

    from engine.errors import ToolMissingError
    from engine.hosts import LocalHost
    from engine.images import Builder

    host = LocalHost()
    real = host.which
    monkeypatch.setattr(host, "which", lambda p: None if p == "debugfs" else real(p))
    with pytest.raises(ToolMissingError, match=r"`debugfs` is not installed .*`e2fsprogs`"):
        asyncio.run(Builder(host, store=tmp_path).build("host"))
    assert not list(tmp_path.glob("host-*"))


def test_download_reports_progress_by_bytes_and_names_unknown_packages(tmp_path, monkeypatch):
    """The longest build step moves its bar as packages arrive; an unknown package is named
    with the fix, before anything is fetched."""
    import asyncio

    from engine.hosts import LocalHost
    from engine.images import debs

    monkeypatch.setattr(debs, "DOWNLOAD_BATCH", 1)
    seen: list[tuple[str, int, int]] = []
    host = LocalHost()
    paths = asyncio.run(debs.download(host, ["iproute2", "socat"], tmp_path,
                                      lambda m, d, t: seen.append((m, d, t))))
    assert sorted(p.name.split("_")[0] for p in paths) == ["iproute2", "socat"]
    assert all(p.exists() for p in paths)
    total = seen[-1][2]
    assert total == sum(p.stat().st_size for p in paths)
    dones = [d for _, d, _ in seen]
    assert dones[0] == 0 and dones[-1] == total and 0 < dones[1] < total, seen
    assert "downloading 2 packages" in seen[0][0]
    with pytest.raises(debs.PackageError, match=r"not available: no-such-pkg-nemu\. Run "
                                                r"`apt-get update`"):
        asyncio.run(debs.check_available(host, ["busybox", "no-such-pkg-nemu"]))
