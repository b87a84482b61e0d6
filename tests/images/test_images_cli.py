"""`nemu images build|list|path` and `nemu doctor` through the real CLI entry point."""

from pathlib import Path

from engine.cli.main import main


def test_build_is_instant_when_cached_and_path_finds_it(capsys):
    assert main(["images", "build", "-q", "host"]) == 0      # builds once in the user cache
    capsys.readouterr()
    assert main(["images", "build", "-q", "host"]) == 0
    out = capsys.readouterr().out
    assert "host:" in out and "cached in" in out
    assert main(["images", "path", "host"]) == 0
    directory = Path(capsys.readouterr().out.strip())
    assert (directory / "manifest.json").exists()
    assert main(["images", "path", "host", "--file", "disk"]) == 0
    assert capsys.readouterr().out.strip().endswith("base.qcow2")
    assert main(["images", "list"]) == 0
    listing = capsys.readouterr().out
    assert "recipe host" in listing and "recipe router" in listing and str(directory) in listing


def test_path_of_unknown_recipe_is_one_clear_line(capsys):
    assert main(["images", "path", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert "no image recipe named 'nosuch'" in err and "Traceback" not in err


def test_doctor_reports_accelerator_and_tools(capsys):
    rc = main(["doctor"])
    out = capsys.readouterr().out
    assert out.startswith("accelerator: ")
    assert ("KVM" in out.splitlines()[0]) or ("TCG" in out.splitlines()[0])
    for tool in ("qemu-system-x86_64", "qemu-img", "mke2fs", "dpkg-deb", "apt-get"):
        assert tool in out
    assert "desktop GUI (" in out                     # the designer's check (test_desktop.py)
    assert rc == (1 if "MISSING" in out or "CANNOT OPEN A WINDOW" in out else 0)


def test_clean_keeps_current_images(capsys, monkeypatch, tmp_path):
    import json

    from engine.images import load_recipe
    monkeypatch.setenv("NEMU_CACHE_DIR", str(tmp_path))   # never touch the real cache here
    manifest = {"name": "host", "cmdline": "", "memory_mb": 128, "kernel_version": "6",
                "packages": [], "built_at": 0}
    current = tmp_path / "images" / f"host-{load_recipe('host').hash()}"
    old = tmp_path / "images" / "host-0123456789abcdef"
    for d, h in ((current, load_recipe("host").hash()), (old, "0123456789abcdef")):
        d.mkdir(parents=True)
        (d / "manifest.json").write_text(json.dumps({**manifest, "hash": h}))
    assert main(["images", "clean"]) == 0
    assert "deleted" in capsys.readouterr().out
    assert current.exists() and not old.exists()


def test_clean_keeps_an_old_image_that_a_sessions_disks_are_built_on(capsys, monkeypatch,
                                                                    tmp_path):
    import json
    import subprocess

    from engine.images.disk import backing_file
    monkeypatch.setenv("NEMU_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("NEMU_SESSIONS", str(tmp_path / "sessions"))
    old = tmp_path / "cache" / "images" / "host-0123456789abcdef"
    old.mkdir(parents=True)
    (old / "manifest.json").write_text(json.dumps({
        "name": "host", "cmdline": "", "memory_mb": 128, "kernel_version": "6", "packages": [],
        "built_at": 0, "hash": "0123456789abcdef"}))
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(old / "base.qcow2"), "16M"],
                   check=True)
    lab = tmp_path / "sessions" / "lab1"
    (lab / "nodes" / "h1").mkdir(parents=True)
    (lab / "topology.yaml").write_text("version: 1\n")
    disk = lab / "nodes" / "h1" / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
                    str(old / "base.qcow2"), str(disk)], check=True)
    assert backing_file(disk) == old / "base.qcow2"
    assert backing_file(old / "base.qcow2") is None
    assert main(["images", "clean"]) == 0
    out = capsys.readouterr().out
    assert f"kept {old}: the disks of session(s) lab1 are built on it" in out
    assert old.exists()
    assert main(["images", "clean", "--force"]) == 0
    assert f"deleted {old}" in capsys.readouterr().out and not old.exists()
