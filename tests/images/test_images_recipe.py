"""Recipes: loading, inheritance, hashing, errors."""

from pathlib import Path

import pytest

from engine.images.recipe import RecipeError, available_recipes, load_recipe


def write(root: Path, name: str, text: str) -> None:
    (root / f"{name}.yaml").write_text(text)


def test_shipped_recipes_load():
    assert {"host", "router"} <= set(available_recipes())
    host, router = load_recipe("host"), load_recipe("router")
    assert "busybox" in host.packages and "qemu-guest-agent" in host.packages
    # router inherits everything in host and adds its services
    assert set(host.packages) <= set(router.packages)
    for pkg in ("dnsmasq-base", "nfs-kernel-server", "lighttpd", "chrony", "nftables",
                "iptables", "bird2"):
        assert pkg in router.packages
    assert set(host.modules) <= set(router.modules)
    assert router.memory_mb <= 128 and router.kernel_package == "linux-image-amd64"
    assert host.hash() != router.hash()


def test_inheritance_appends_lists_and_replaces_scalars(tmp_path):
    (tmp_path / "files").mkdir()
    write(tmp_path, "base", "kernel: {package: k, modules: [a]}\npackages: [p1]\nextra_mb: 8\n")
    write(tmp_path, "child", "inherits: base\nkernel: {modules: [b]}\npackages: [p2, p1]\n"
                             "extra_mb: 16\nguest_files: [files]\n")
    r = load_recipe("child", tmp_path)
    assert r.packages == ("p1", "p2")
    assert r.modules == ("a", "b")
    assert r.kernel_package == "k" and r.extra_mb == 16 and r.name == "child"


def test_hash_is_stable_and_covers_guest_files(tmp_path):
    (tmp_path / "files").mkdir()
    write(tmp_path, "x", "kernel: {package: k}\nguest_files: [files]\n")
    h1 = load_recipe("x", tmp_path).hash()
    assert load_recipe("x", tmp_path).hash() == h1
    (tmp_path / "files" / "motd").write_text("hello")
    h2 = load_recipe("x", tmp_path).hash()
    assert h2 != h1
    (tmp_path / "files" / "motd").chmod(0o600)      # another umask: same image, same hash
    assert load_recipe("x", tmp_path).hash() == h2
    (tmp_path / "files" / "motd").chmod(0o755)      # executable: what git keeps, a new image
    assert load_recipe("x", tmp_path).hash() != h2


@pytest.mark.parametrize("text, message", [
    ("packages: [a]\n", "kernel.package"),
    ("kernel: {package: k}\npackages: a\n", "`packages` must be a list"),
    ("kernel: {package: k}\nextra_mb: -1\n", "extra_mb"),
    ("[1, 2]\n", "mapping"),
    ("kernel: {package: k\n", "not valid YAML"),
])
def test_bad_recipes_say_what_is_wrong(tmp_path, text, message):
    write(tmp_path, "bad", text)
    with pytest.raises(RecipeError, match=message):
        load_recipe("bad", tmp_path)


def test_unknown_and_looping_recipes(tmp_path):
    write(tmp_path, "a", "inherits: b\n")
    write(tmp_path, "b", "inherits: a\n")
    with pytest.raises(RecipeError, match="loops"):
        load_recipe("a", tmp_path)
    with pytest.raises(RecipeError, match=r"no image recipe named 'zzz' in .* \(known: a, b\)"):
        load_recipe("zzz", tmp_path)
    empty = tmp_path / "installed-without-recipes"
    empty.mkdir()
    with pytest.raises(RecipeError, match=r"holds no recipes .* NEMU_IMAGES_DIR"):
        load_recipe("host", empty)


def test_hash_covers_the_initramfs_init(tmp_path):
    """/init of the initramfs is read from the recipes directory, so editing it is a new image."""
    write(tmp_path, "x", "kernel: {package: k}\n")
    (tmp_path / "initramfs").mkdir()
    init = tmp_path / "initramfs" / "init"
    init.write_text("#!/bin/sh\nexec switch_root /root /sbin/init\n")
    h1 = load_recipe("x", tmp_path).hash()
    init.write_text("#!/bin/sh\necho hello\nexec switch_root /root /sbin/init\n")
    assert load_recipe("x", tmp_path).hash() != h1
