"""The vswitch's own error types: OS and library errors are translated into these at the edges.

Every error says *what* and *where* (a field name, a port name), so a control reply or a log line
can point at the exact thing to fix.
"""

from __future__ import annotations


class VSwitchError(Exception):
    """Base of every error the vswitch raises on purpose."""


class RequestError(VSwitchError):
    """A control request that cannot be carried out; nothing was changed.

    `field` names the offending request field (dotted, e.g. ``params.delay``) or is ``""`` when the
    request as a whole is wrong (bad JSON, unknown command).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


class ParamError(RequestError):
    """A link-emulation parameter that is unknown, of the wrong type or out of range."""


class TransportError(VSwitchError):
    """A port's transport could not be set up (bad address, bind/connect failure)."""
