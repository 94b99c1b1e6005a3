"""Ctrl-C for a command that runs compiled programs: stop at the next boundary, cleanly.

A KeyboardInterrupt raised while XLA compiles or runs a program lands inside C++ frames: the
run waits for the whole program anyway, then prints a JAX traceback, and during compilation
it crashed the process. Instead, the first Ctrl-C only asks to stop; the commands check at
their boundaries (between pieces of a fit, after each chunk of a sweep), raise
:class:`Interrupted`, remove their staging folder, and the process exits with 130 and one
line. A second Ctrl-C interrupts at once.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

_requested = threading.Event()


class Interrupted(Exception):
    """Ctrl-C was pressed: the command stopped at a boundary with nothing half-written."""


def check() -> None:
    """Raises :class:`Interrupted` if Ctrl-C was pressed."""
    if _requested.is_set():
        raise Interrupted("interrupted")


@contextlib.contextmanager
def graceful() -> Iterator[None]:
    """Within it, the first SIGINT requests a stop and the second raises KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if _requested.is_set():
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        _requested.set()
        print("jaxloss: interrupted; stopping at the next boundary (Ctrl-C again to stop now)",
              file=sys.stderr, flush=True)  # fmt: skip

    _requested.clear()
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _requested.clear()
