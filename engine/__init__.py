"""nemu: the topology model, sessions, QEMU and vswitch launchers, local and SSH hosts.

This package never imports PySide6: it is usable from scripts, a shell and the GUI alike.
"""
