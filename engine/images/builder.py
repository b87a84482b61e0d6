"""Building an image from its recipe, and finding built images in the cache.

Lifecycle of a build: resolve packages -> download -> unpack -> assemble root tree -> kernel
modules -> initramfs -> library check -> root disk -> manifest; the result is renamed into
`<cache>/images/<name>-<hash>/` only when every step succeeded, so a half-built image is never
found. A build whose directory already exists returns at once (an unchanged recipe is instant).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import platform
import shutil
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.errors import NemuError, ToolMissingError
from engine.hosts import Host
from engine.images import cpio, debs, disk, kernel, kmods, rootfs
from engine.images.paths import cache_dir, debs_dir, images_dir
from engine.images.recipe import INITRAMFS_INIT, Recipe, load_recipe

ProgressFn = Callable[[str, int, int], None]

# Arguments every nemu image's kernel gets; the engine may append more.
# `quiet` matters: every console line costs time under TCG. The rest skips slow probes and
# self-tests that an emulated lab machine does not need (mitigations only guard the guest's
# own processes from each other).
BASE_CMDLINE = ("console=ttyS0,115200 root=/dev/vda rootfstype=ext4 rw quiet panic=-1 "
                "cryptomgr.notests tsc=reliable no_timer_check i8042.noaux i8042.nokbd "
                "i8042.nopnp 8250.nr_uarts=1 mitigations=off "
                "initcall_blacklist=init_kprobe_trace,init_encrypted,crypto_kdf108_init,"
                "fscrypt_init,fsverity_init")
# Programs a build runs on the build machine, and the Debian package of each.
BUILD_TOOLS = (("apt-get", "apt"), ("apt-cache", "apt"), ("dpkg-deb", "dpkg"),
               ("mke2fs", "e2fsprogs"), ("debugfs", "e2fsprogs"), ("qemu-img", "qemu-utils"))
# Written by the guest's rc.sysinit once its node configuration is applied.
READY_FILE = "/run/nemu/ready"
# The initramfs runs this busybox (static: there is no libc there). The root tree uses the
# dynamic `busybox` package, whose shell runs real programs (ping, nc) rather than its applets.
STATIC_BUSYBOX = "busybox-static"
INITRAMFS_APPLETS = ("sh", "mount", "umount", "modprobe", "switch_root", "mkdir", "cat",
                     "usleep", "sleep", "echo", "ls", "cp")


class BuildError(NemuError):
    """A build step that failed: names the image and the step."""


@dataclass(frozen=True)
class Image:
    """A built image: what the engine needs to boot a node from it."""

    name: str
    hash: str
    directory: Path
    kernel: Path          # what QEMU boots: vmlinux (PVH, fast) or the bzImage
    initrd: Path          # what QEMU boots: uncompressed cpio
    disk: Path
    cmdline: str
    memory_mb: int
    kernel_version: str
    packages: tuple[str, ...]
    checks: tuple[str, ...]
    built_at: float
    arch: str = "x86_64"  # the guest architecture (QEMU's name): qemu-system-<arch> boots it

    def size_bytes(self) -> int:
        """Compressed size: bzImage + gzipped initramfs + compressed base disk (what the image
        costs to ship; the uncompressed boot copies in the cache are derived from these)."""
        d = self.directory
        return sum(p.stat().st_size for p in (d / "vmlinuz", d / "initrd.gz", self.disk))

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        for key in ("directory", "kernel", "initrd", "disk"):
            d[key] = str(d[key])
        d["boot_kernel"] = self.kernel.name
        d["packages"] = list(self.packages)
        d["checks"] = list(self.checks)
        return d

    @classmethod
    def load(cls, directory: Path) -> Image:
        data = json.loads((directory / "manifest.json").read_text())
        return cls(name=data["name"], hash=data["hash"], directory=directory,
                   kernel=directory / data.get("boot_kernel", "vmlinuz"),
                   initrd=directory / "initrd.img",
                   disk=directory / "base.qcow2", cmdline=data["cmdline"],
                   memory_mb=int(data["memory_mb"]), kernel_version=data["kernel_version"],
                   packages=tuple(data["packages"]), checks=tuple(data.get("checks", ())),
                   built_at=float(data["built_at"]), arch=data.get("arch", "x86_64"))


# What an image is made of when shipped (session archives); the rest is derived at install.
SHIPPED_FILES = ("manifest.json", "vmlinuz", "initrd.gz", "base.qcow2")


def install_image(shipped: Path, store: Path | None = None) -> Image:
    """Put an image unpacked from an archive (its SHIPPED_FILES) into the cache under its own
    directory name, remaking the boot copies; an image already cached there is kept as is."""
    target = (store or images_dir()) / shipped.name
    if (target / "manifest.json").exists():
        return Image.load(target)
    missing = [f for f in SHIPPED_FILES if not (shipped / f).is_file()]
    if missing:
        raise NemuError(f"{shipped.name}: this image is incomplete (no {', '.join(missing)})")
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for f in SHIPPED_FILES:
        shutil.copy2(shipped / f, tmp / f)
    cpio.gunzip(tmp / "initrd.gz", tmp / "initrd.img")
    data = json.loads((tmp / "manifest.json").read_text())
    if data.get("boot_kernel") == "vmlinux" and not kernel.make_vmlinux(tmp / "vmlinuz",
                                                                       tmp / "vmlinux"):
        data["boot_kernel"] = "vmlinuz"
        (tmp / "manifest.json").write_text(json.dumps(data, indent=2) + "\n")
    try:
        tmp.rename(target)              # whole or not at all, like a build
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (target / "manifest.json").exists():   # not another restore's copy: a failure
            raise
    return Image.load(target)


def image_dir(recipe: Recipe, store: Path | None = None) -> Path:
    return (store or images_dir()) / f"{recipe.name}-{recipe.hash()}"


def find_image(name: str, store: Path | None = None) -> Image | None:
    """The built image of the current recipe `name`, or None when it is not built."""
    directory = image_dir(load_recipe(name), store)
    if (directory / "manifest.json").exists():
        return Image.load(directory)
    return None


def built_images(store: Path | None = None) -> list[Image]:
    """Every image in the cache (current or from older recipes), newest first."""
    root = store or images_dir()
    if not root.exists():
        return []
    found = [Image.load(d) for d in root.iterdir() if (d / "manifest.json").exists()]
    return sorted(found, key=lambda i: i.built_at, reverse=True)


@contextlib.asynccontextmanager
async def _lock(store: Path, name: str) -> AsyncIterator[None]:
    """An exclusive lock between builds (of any process), waited for without blocking the
    event loop: a GUI or a second session keeps running while another build holds it."""
    store.mkdir(parents=True, exist_ok=True)
    with open(store / f".{name}.lock", "w") as f:
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class Builder:
    """Builds images on `host` (the machine whose apt, dpkg-deb, mke2fs and qemu-img are used).

    Images go to `store` (default: the user cache's images directory); downloaded packages and
    unpacked kernels are always shared in the user cache.
    """

    STEPS = 9

    def __init__(self, host: Host, progress: ProgressFn | None = None,
                 store: Path | None = None) -> None:
        self.host = host
        self.store = store or images_dir()
        self.progress = progress or (lambda msg, done, total: None)
        self._step = 0
        self._name = ""

    def _begin(self, what: str) -> None:
        self._step += 1
        self.progress(f"[{self._name} {self._step}/{self.STEPS}] {what}", 0, 1)

    def _sub(self, msg: str, done: int, total: int) -> None:
        self.progress(f"[{self._name} {self._step}/{self.STEPS}] {msg}", done, total)

    async def build(self, name: str, force: bool = False) -> Image:
        """Build (or find) the image of recipe `name`."""
        recipe = load_recipe(name)
        target = image_dir(recipe, self.store)
        async with _lock(self.store, name):
            if not force and (target / "manifest.json").exists():
                return Image.load(target)
            self._step, self._name = 0, name
            work = self.store / f".build-{name}-{os.getpid()}"
            if work.exists():
                shutil.rmtree(work)
            work.mkdir(parents=True)
            try:
                await self._build(recipe, work)
                if target.exists():
                    shutil.rmtree(target)
                out = work / "out"
                out.rename(target)
                return Image.load(target)
            finally:
                shutil.rmtree(work, ignore_errors=True)

    def check_tools(self) -> None:
        """Raise ToolMissingError (naming the Debian package) for the first missing tool."""
        for program, package in BUILD_TOOLS:
            if self.host.which(program) is None:
                raise ToolMissingError(program, package, self.host.name)

    async def _build(self, recipe: Recipe, work: Path) -> Image:
        host = self.host
        self.check_tools()
        self._begin("resolving packages")
        # Another architecture's packages (an i386 image on amd64) come from package lists kept
        # in nemu's cache; the build machine's own architecture uses the system's apt as is.
        apt: list[str] = []
        if recipe.arch != platform.machine():
            apt = await debs.foreign_apt(host, recipe.debian_arch, progress=self._sub)
        kpkg = await debs.kernel_package(host, recipe.kernel_package, apt)
        packages = await debs.resolve(host, recipe.packages, recipe.exclude, apt)
        if "busybox" not in packages:
            raise BuildError(f"image {recipe.name!r}: recipes need the package busybox")

        self._begin(f"downloading {len(packages) + 1} packages (cached in {debs_dir()})")
        deb_paths = await debs.download(host, [*packages, kpkg, STATIC_BUSYBOX], debs_dir(),
                                        self._sub, apt)
        kdeb = next(p for p in deb_paths if p.name.startswith(kpkg + "_"))
        sdeb = next(p for p in deb_paths if p.name.startswith(STATIC_BUSYBOX + "_"))
        pkg_debs = [p for p in deb_paths if p not in (kdeb, sdeb)]

        self._begin("unpacking packages")
        root = work / "root"
        await debs.extract(host, pkg_debs, root, self._sub)
        # The static busybox runs the initramfs and, on the build machine, depmod.
        await debs.extract(host, [sdeb], work / "static")
        busybox = work / "static/bin/busybox"

        self._begin("assembling the root tree")
        rootfs.merge_usr(root)
        rootfs.make_skeleton(root)
        for d in recipe.guest_dirs():
            if not d.is_dir():
                raise BuildError(f"image {recipe.name!r}: guest files directory {d} is missing")
            rootfs.copy_tree(d, root)
        await rootfs.busybox_links(host, root, recipe.arch)
        rootfs.prune(root, recipe.prune)

        self._begin(f"kernel {kdeb.name.split('_')[1]} and its modules")
        ktree = await self._kernel_tree(kdeb, busybox)
        version = kmods.kernel_version(ktree)
        kmoddir = ktree / "lib/modules" / version
        mods = kmods.select(kmoddir, recipe.modules)
        kmods.copy_modules(kmoddir, root / "usr/lib/modules" / version, mods)
        await kmods.depmod(host, busybox, root, version)

        self._begin("initramfs")
        out = work / "out"
        out.mkdir()
        ird = work / "initramfs"
        for sub in ("bin", "dev", "proc", "sys", "etc", "newroot"):
            (ird / sub).mkdir(parents=True, exist_ok=True)
        shutil.copy2(busybox, ird / "bin/busybox")
        for applet in INITRAMFS_APPLETS:
            (ird / "bin" / applet).symlink_to("busybox")
        init = recipe.root / INITRAMFS_INIT
        shutil.copy2(init, ird / "init")
        (ird / "etc/boot-modules").write_text("\n".join(recipe.boot_modules) + "\n")
        boot_mods = kmods.select(kmoddir, recipe.boot_modules)
        kmods.copy_modules(kmoddir, ird / "lib/modules" / version, boot_mods)
        await kmods.depmod(host, busybox, ird, version)
        cpio.write_initramfs(ird, out / "initrd.gz")
        # QEMU boots the uncompressed copy: no decompression in the guest under TCG.
        cpio.gunzip(out / "initrd.gz", out / "initrd.img")
        shutil.copy2(ktree / "boot" / f"vmlinuz-{version}", out / "vmlinuz")
        boot_kernel = out / "vmlinuz"
        if (ktree / "vmlinux").exists():
            boot_kernel = out / "vmlinux"
            try:
                os.link(ktree / "vmlinux", boot_kernel)
            except OSError:
                shutil.copy2(ktree / "vmlinux", boot_kernel)

        self._begin("checking shared libraries")
        rootfs.check_libraries(root, recipe.name, recipe.arch)

        self._begin("root disk (ext4, then compressed qcow2)")
        raw = work / "root.ext4"
        await disk.make_ext4(host, root, raw, recipe.extra_mb)
        await disk.to_qcow2(host, raw, out / "base.qcow2")
        raw.unlink()

        self._begin("manifest")
        image = Image(name=recipe.name, hash=recipe.hash(), directory=out,
                      kernel=boot_kernel, initrd=out / "initrd.img", disk=out / "base.qcow2",
                      cmdline=BASE_CMDLINE, memory_mb=recipe.memory_mb, kernel_version=version,
                      packages=tuple(p.name for p in deb_paths), checks=recipe.checks,
                      built_at=time.time(), arch=recipe.arch)
        (out / "manifest.json").write_text(json.dumps(image.to_json(), indent=2) + "\n")
        self._sub(f"done: {image.size_bytes() / 2**20:.1f} MiB", 1, 1)
        return image

    def _make_vmlinux(self, tree: Path, version: str) -> None:
        self._sub("decompressing the kernel for PVH boot", 0, 1)
        if not kernel.make_vmlinux(tree / "boot" / f"vmlinuz-{version}", tree / "vmlinux"):
            (tree / ".no-pvh").touch()   # boot the bzImage instead

    async def _kernel_tree(self, kdeb: Path, busybox: Path) -> Path:
        """The unpacked kernel package with its module index, cached per package file."""
        tree = cache_dir() / "kernels" / kdeb.stem
        async with _lock(tree.parent, kdeb.stem):   # builds of other images share this tree
            return await self._kernel_tree_locked(tree, kdeb, busybox)

    async def _kernel_tree_locked(self, tree: Path, kdeb: Path, busybox: Path) -> Path:
        if (tree / ".complete").exists():
            if not (tree / "vmlinux").exists() and not (tree / ".no-pvh").exists():
                self._make_vmlinux(tree, kmods.kernel_version(tree))
            return tree
        tmp = tree.with_name(tree.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        await debs.extract(self.host, [kdeb], tmp)
        version = kmods.kernel_version(tmp)
        await kmods.depmod(self.host, busybox, tmp, version)
        self._make_vmlinux(tmp, version)
        (tmp / ".complete").touch()
        shutil.rmtree(tree, ignore_errors=True)
        tmp.rename(tree)
        return tree
