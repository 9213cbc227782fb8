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

_lock = threading.Lock()
_holders = 0  # blocks inside collector_paused(), in every thread
_paused_by_us = False  # whether the first of them disabled the collector


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Disable automatic garbage collection inside the block, when it was enabled.

    Thread-safe and re-entrant: the collector is enabled again when the last block still
    open, in any thread, ends — even on error. A program that disabled the collector before
    the first block is left as it is.
    """
    global _holders, _paused_by_us
    with _lock:
        if _holders == 0:
            _paused_by_us = gc.isenabled()
            if _paused_by_us:
                gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _paused_by_us:
                _paused_by_us = False
                gc.enable()
