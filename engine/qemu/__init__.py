"""QEMU: pure command-line builders, and the launchers that run them through a Host."""
