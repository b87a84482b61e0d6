"""Guest images: build small host and router machines from Debian packages, without root, and
boot nodes from them with a guest agent (docs/images.md).

Public API for the engine:
- `Builder(host).build(name)` -> `Image`; `find_image(name)`; `built_images()`
- `choose_accel(host)` -> `AccelChoice` (KVM if it really works, else TCG, with the reason)
- `NodeConfig` (per-node configuration), `prepare_node(...)` -> `MachineSpec`, `qemu_argv(spec)`
- `GuestMachine(host, spec)`: start() / poweroff() / stop(), `.agent` a `GuestAgent`
"""

from engine.images.accel import AccelChoice, choose_accel, probe_kvm
from engine.images.builder import Builder, BuildError, Image, built_images, find_image
from engine.images.guest_agent import ExecResult, GuestAgent, GuestAgentError
from engine.images.node_config import GuestFile, InterfaceConfig, NodeConfig, mac_for
from engine.images.qemu_boot import (
    BootError,
    GuestMachine,
    MachineSpec,
    NicSpec,
    prepare_node,
    qemu_argv,
)
from engine.images.recipe import Recipe, RecipeError, available_recipes, load_recipe

__all__ = [
    "AccelChoice", "BootError", "BuildError", "Builder", "ExecResult", "GuestAgent",
    "GuestAgentError", "GuestFile", "GuestMachine", "Image", "InterfaceConfig", "MachineSpec",
    "NicSpec", "NodeConfig", "Recipe", "RecipeError", "available_recipes", "built_images",
    "choose_accel", "find_image", "load_recipe", "mac_for", "prepare_node", "probe_kvm",
    "qemu_argv",
]
