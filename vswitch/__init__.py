"""The userspace data plane: links, hubs and switches that carry QEMU Ethernet frames.

Standard library only (plus an optional fast event loop); never imports engine or PySide6.
"""
