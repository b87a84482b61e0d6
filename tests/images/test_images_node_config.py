"""Per-node configuration: validation, rendering, and that the guest's shell reads back exactly
what the engine wrote (the quoting round trip runs in a real POSIX shell through the Host)."""

import asyncio
from pathlib import Path

import pytest

from engine.hosts import LocalHost
from engine.images.node_config import (
    GuestFile,
    InterfaceConfig,
    NodeConfig,
    NodeConfigError,
    mac_for,
)

APPLY = Path(__file__).resolve().parents[2] / "images/guest/common/etc/nemu/apply-config"


def sample() -> NodeConfig:
    return NodeConfig(
        hostname="r1",
        interfaces=[InterfaceConfig("eth0", mac_for("r1", 0), ["10.0.0.1/24", "fd00::1/64"]),
                    InterfaceConfig("lan1", mac_for("r1", 1), [], mtu=1400)],
        routes=["default via 10.0.0.254"],
        ssh_keys=["ssh-ed25519 AAAAC3Nza me@host"],
        services=["ssh", "bird"],
        files=[GuestFile("/etc/motd", b"it's \"quoted\" $HOME `x`\n", 0o600)],
        sysctls={"net.ipv4.ip_forward": "1"},
        commands=["echo 'done' > /tmp/x"])


def test_mac_for_is_stable_and_local():
    assert mac_for("h1", 0) == mac_for("h1", 0)
    assert mac_for("h1", 0) != mac_for("h1", 1) != mac_for("h2", 1)
    assert mac_for("h1", 0).startswith("52:54:00:")


def test_render_and_dict_round_trip():
    cfg = sample()
    text = cfg.render()
    assert "nemu_hostname r1" in text
    assert f"nemu_iface {mac_for('r1', 1)} lan1 mtu 1400" in text
    assert NodeConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("change, message", [
    ({"hostname": "bad name"}, "hostname"),
    ({"interfaces": [InterfaceConfig("eth0", "zz:54:00:00:00:01")]}, "MAC"),
    ({"interfaces": [InterfaceConfig("eth0", "52:54:00:00:00:01", ["10.0.0.1"])]}, "prefix"),
    ({"interfaces": [InterfaceConfig("eth0", "52:54:00:00:00:01", ["10.0.0.300/24"])]},
     "not an address"),
    ({"interfaces": [InterfaceConfig("eth0", "52:54:00:00:00:01"),
                     InterfaceConfig("eth0", "52:54:00:00:00:02")]}, "duplicate"),
    ({"services": ["ssh;reboot"]}, "service"),
    ({"files": [GuestFile("etc/x", b"")]}, "absolute"),
])
def test_invalid_configs_name_node_and_field(change, message):
    cfg = NodeConfig(hostname="h1")
    for k, v in change.items():
        setattr(cfg, k, v)
    with pytest.raises(NodeConfigError, match=message):
        cfg.render()


def test_guest_shell_reads_back_every_argument(tmp_path):
    """Source the rendered file with recording stubs, as the guest's apply-config does."""
    cfg = sample()
    conf = cfg.write(tmp_path / "config.sh")
    script = f"""
rec() {{ printf '%s' "$1"; shift; for a in "$@"; do printf '|%s' "$a"; done; echo; }}
for v in version hostname sysctl iface addr route sshkey service exec; do
  eval "nemu_$v() {{ rec $v \\"\\$@\\"; }}"
done
nemu_file() {{ printf 'file|%s|%s|' "$1" "$2"; printf %s "$3" | base64 -d; echo; }}
. {conf}
"""
    res = asyncio.run(LocalHost().run(["sh", "-c", script], timeout=10))
    lines = res.text.splitlines()
    assert "hostname|r1" in lines
    assert "sysctl|net.ipv4.ip_forward=1" in lines
    assert "addr|eth0|fd00::1/64" in lines
    assert "route|default|via|10.0.0.254" in lines
    assert "sshkey|ssh-ed25519 AAAAC3Nza me@host" in lines
    assert "service|bird" in lines
    assert "exec|echo 'done' > /tmp/x" in lines
    assert "file|/etc/motd|600|it's \"quoted\" $HOME `x`" in lines


def test_guest_apply_script_is_posix_sh():
    res = asyncio.run(LocalHost().run(["sh", "-n", str(APPLY)], timeout=10, check=False))
    assert res.returncode == 0, res.stderr
