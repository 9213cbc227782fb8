"""Pausing Python's cyclic garbage collector while a plan is made.

A plan of N employees holds a few container objects per employee (the decoded JSON, the
``Employee``, its references, the actions) until it is done. While they pile up, the collector
runs full collections every time the number of objects grows by a quarter, and each one walks
all of them: for 100,000 employees that was a third of ``plan()``'s CPU time (see
docs/performance.md). Nothing the planner keeps forms a reference cycle, so reference counting
alone frees what it drops; a cycle made meanwhile (by user code) waits for the first collection
after the pause.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["collector_paused"]


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Disable automatic garbage collection inside the block, when it was enabled.

    The collector is enabled again on the way out, even on error. A program that disabled it
    before is left as it is; the switch is process-wide, so another thread that disables it
    meanwhile finds it enabled again when the block ends.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
