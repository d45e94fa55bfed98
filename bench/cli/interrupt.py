"""Stop signals: SIGINT (Ctrl-C), SIGTERM and SIGHUP all stop a command the same way, promptly.

Each raises KeyboardInterrupt in the main thread at the next bytecode, wherever it is: in plain
code, or inside a task of an asyncio event loop. asyncio.run would otherwise replace the SIGINT
handler with one that only cancels its main task, which a task busy in a long loop never sees
(a run then ignores Ctrl-C until the loop ends); it leaves a handler of our own in place. The
``with`` blocks and ``finally`` clauses on the way out remove FIFOs and volumes, stop the
embedded server and write partial results.

A signal ignored when the command started (``nohup`` ignores SIGHUP; a shell's background job
ignores SIGINT) stays ignored.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TypeVar

T = TypeVar("T")

STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, every stop signal raises KeyboardInterrupt; the previous handlers
    come back after it."""
    previous = {}
    for signum in STOP_SIGNALS:
        current = signal.getsignal(signum)
        if current is signal.SIG_IGN:
            continue
        previous[signum] = current
        signal.signal(signum, _stop)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def run_interruptible(func: Callable[..., T], *args: object, **kwargs: object) -> T:
    """``func(*args, **kwargs)`` with every stop signal raising KeyboardInterrupt."""
    with stop_on_signals():
        return func(*args, **kwargs)
