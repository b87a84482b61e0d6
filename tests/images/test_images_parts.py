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
    rootfs.copy_tree(guest, root)
    assert (root / "usr/sbin/tool").stat().st_mode & 0o111
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
