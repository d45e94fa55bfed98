"""Worker processes for model runs that stop with the command.

The model is numpy on one core, so a plan runs independent model runs (what-ifs, host counts)
on a pool of forked workers. A pool must not outlive a stop signal: on any exit other than
success its workers are terminated at once, not left to finish a model run that may take
seconds (``concurrent.futures``' pool would wait for them).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
import signal
from collections.abc import Iterator
from contextlib import contextmanager

_STOP_SIGNALS = {
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
}


def _worker_signals() -> None:
    """A worker leaves stop signals to the command: Ctrl-C or a closed terminal (sent to the
    whole process group) is the parent's to handle, and SIGTERM, which the parent's
    ``terminate`` sends, ends the worker at once, without a traceback."""
    for name in ("SIGINT", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)  # held while the pool forked


@contextmanager
def _signals_held() -> Iterator[None]:
    """Stop signals wait until the block ends. A signal that lands while ``fork`` runs its
    at-fork hooks (logging's lock, for one) is swallowed by Python ("Exception ignored"), so
    the command would go on; held, it is delivered when the block ends."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextmanager
def worker_pool(workers: int) -> Iterator[multiprocessing.pool.Pool]:
    """A pool of ``workers`` forked processes for the ``with`` block. Forked before the caller
    starts any thread, so the children copy a process whose locks are all free."""
    pool = None
    try:
        with _signals_held():
            pool = multiprocessing.get_context("fork").Pool(
                processes=workers, initializer=_worker_signals
            )
        yield pool
        pool.close()
    except BaseException:
        if pool is not None:
            pool.terminate()
        raise
    finally:
        if pool is not None:
            pool.join()
