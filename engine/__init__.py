"""nemu: the topology model, sessions, QEMU and vswitch launchers, local and SSH hosts.

This package never imports PySide6: it is usable from scripts, a shell and the GUI alike.

The public API, what a front end (the designer, a script, a shell) may import, is the modules
in PUBLIC_API: the model and its file format, units and errors, the example labs, the address
plan a lab will get, sessions and their events, the running-lab façade (`engine.lab`: start,
attach, live edits, control), the engine thread for callers that must never block, consoles
and link statistics. Everything else (hosts, images, plans, the vswitch
fabric, registries) is the engine's own business; `tests/test_boundaries.py` holds the GUI to
this list.
"""

PUBLIC_API = (
    "engine",
    "engine.model",
    "engine.topofile",
    "engine.units",
    "engine.errors",
    "engine.examples",
    "engine.session.session",
    "engine.session.events",
    "engine.plan.addressing",
    "engine.lab",
    "engine.runtime",
    "engine.console",
    "engine.stats",
)
