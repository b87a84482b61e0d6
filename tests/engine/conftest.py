"""Running real sessions from synchronous tests: one engine thread per test module."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

from engine.runtime import EngineThread


class Engine:
    """Runs coroutines on a background event loop that lives as long as the module's session."""

    def __init__(self) -> None:
        self.thread = EngineThread("test-engine")
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 300.0) -> Any:
        return self.thread.submit(coro).result(timeout)

    def close(self) -> None:
        self.thread.stop()


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    e = Engine()
    yield e
    e.close()


def serial_boot_sector(message: bytes) -> bytes:
    """A 512-byte MBR that prints `message` on COM1 and halts: a whole machine of its own."""
    code = bytes([
        0xFA,                         # cli
        0x31, 0xC0, 0x8E, 0xD8,       # xor ax,ax; mov ds,ax
        0xFC,                         # cld
        0xBA, 0xF8, 0x03,             # mov dx,0x3f8
        0xBE, 0x00, 0x00,             # mov si,msg (patched below)
        0xAC,                         # next: lodsb
        0x84, 0xC0,                   # test al,al
        0x74, 0x03,                   # jz halt
        0xEE,                         # out dx,al
        0xEB, 0xF8,                   # jmp next
        0xF4,                         # halt: hlt
        0xEB, 0xFD,                   # jmp halt
    ])
    msg_at = 0x7C00 + len(code)
    code = code[:10] + bytes([msg_at & 0xFF, msg_at >> 8]) + code[12:]
    body = code + message + b"\r\n\0"
    return body + b"\0" * (510 - len(body)) + b"\x55\xaa"


@pytest.fixture
def boot_sector() -> Callable[[bytes], bytes]:
    """A user's own disk in 512 bytes: it boots by itself and prints a message on COM1."""
    return serial_boot_sector
