"""Pausing Python's cyclic garbage collector while a plan is made or applied.

A plan of N employees holds a few container objects per employee (the decoded JSON, the
``Employee``, its references, the actions) until it is done. While they pile up, the collector
runs full collections every time the number of objects grows by a quarter, and each one walks
all of them: for 100,000 employees that was a third of ``plan()``'s CPU time (see
docs/performance.md). Nothing the planner keeps forms a reference cycle, so reference counting
alone frees what it drops; a cycle made meanwhile (by user code) waits for the first collection
after the pause.

The collector is one switch for the whole process, and several plans may run at once (one
tenant per thread): the pause is counted. The first block to enter disables the collector, the
last one to leave enables it again, so one thread finishing never re-enables collection under
another that is still planning.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

__all__ = ["collector_paused"]


class _Pause:
    """How many blocks are inside `collector_paused`, in every thread, and whether the first
    of them disabled the collector."""

    lock = threading.Lock()
    holders = 0
    by_us = False


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Disable automatic garbage collection inside the block, when it was enabled.

    Thread-safe and re-entrant: the collector is enabled again when the last block still
    open, in any thread, ends — even on error. A program that disabled the collector before
    the first block is left as it is.
    """
    with _Pause.lock:
        if _Pause.holders == 0:
            _Pause.by_us = gc.isenabled()
            if _Pause.by_us:
                gc.disable()
        _Pause.holders += 1
    try:
        yield
    finally:
        with _Pause.lock:
            _Pause.holders -= 1
            if _Pause.holders == 0 and _Pause.by_us:
                _Pause.by_us = False
                gc.enable()
