"""Handing the batch thread's output to an event loop without handing it the GIL first.

`loop.call_soon_threadsafe` wakes the loop with a write that releases the GIL; the woken loop
takes it and works through the step's output while the batch thread, whose next decode was
ready, waits to get it back: 0.41-0.54 ms between two decodes of one stream over HTTP (a
9 ms step). Here the wake-up byte is written while holding the GIL, so the loop wakes, waits
for the GIL, and gets it when the batch thread enters llama_decode (which releases it): that
pause was 0.22 ms (the debug step log, `bench/profile_server.py`'s shares in the README).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


def _write_holding_the_gil() -> Callable[[int, bytes, int], int] | None:
    """libc's write(2) through ctypes.PyDLL, whose calls keep the GIL (CDLL's release it)."""
    try:
        write = ctypes.PyDLL(None).write
    except (AttributeError, OSError):  # no libc symbols in this process (Windows)
        return None
    write.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t)
    write.restype = ctypes.c_ssize_t
    return write


_WRITE = _write_holding_the_gil()


class LoopInbox:
    """Work posted from another thread, run on one event loop in the order posted."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = weakref.ref(loop)
        self._items: deque[tuple[Callable[[Any], None], Any]] = deque()
        self._signalled = False
        self._pipe: tuple[int, int] | None = None
        if _WRITE is None:
            return
        read, write = os.pipe()
        os.set_blocking(read, False)
        os.set_blocking(write, False)
        try:
            loop.add_reader(read, self._drain)
        except NotImplementedError:  # a loop without file readers (Windows' proactor)
            os.close(read)
            os.close(write)
            return
        self._pipe = (read, write)
        weakref.finalize(loop, _close, read, write)

    def post(self, callback: Callable[[Any], None], argument: Any) -> bool:
        """Runs `callback(argument)` on the loop soon; False if the loop is gone."""
        loop = self._loop()
        if loop is None or loop.is_closed():
            return False
        if self._pipe is None or _WRITE is None:
            try:
                loop.call_soon_threadsafe(callback, argument)
            except RuntimeError:  # closed in between
                return False
            return True
        self._items.append((callback, argument))
        if not self._signalled:  # one byte wakes the loop for everything posted until it runs
            self._signalled = True
            _WRITE(self._pipe[1], b"\0", 1)
        return True

    def _drain(self) -> None:
        assert self._pipe is not None
        with contextlib.suppress(BlockingIOError):
            os.read(self._pipe[0], 4096)
        self._signalled = False  # before taking the items: one posted after this wakes it again
        while self._items:
            callback, argument = self._items.popleft()
            try:
                callback(argument)
            except Exception:  # as the loop's own callbacks: logged, the rest still run
                log.exception("a callback posted to the event loop failed")


_inboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopInbox] = (
    weakref.WeakKeyDictionary()
)


def inbox_of(loop: asyncio.AbstractEventLoop) -> LoopInbox:
    """The loop's inbox, made on first use; call it on the loop's own thread."""
    inbox = _inboxes.get(loop)
    if inbox is None:
        inbox = _inboxes[loop] = LoopInbox(loop)
    return inbox


def _close(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
