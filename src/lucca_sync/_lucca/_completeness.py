"""Proving a paged read complete: Lucca's own count, page continuity, a bound on requests.

A read is compared with the number of rows Lucca says the list holds: v3 answers it when
``collection.count`` is among the ``fields`` of the first page (``data.count``), the Lucca API
when ``include=totalCount`` is asked (``totalCount``). Fewer distinct rows than that count is
a short read (a page that lost its last rows); more pages than the count implies means the
server does not page as asked (it ignores the offset, say). A server that sends no count is read
anyway, checked by page continuity alone, and a pass then stops after
:data:`MAX_UNCOUNTED_ROWS` rows.

:class:`V3Pass` holds the checks of one pass of the legacy reader (pages overlap by one row,
see ``_directory.py``); :func:`listed_count` and :func:`pages_for` serve both readers.
"""

from __future__ import annotations

from typing import Final, cast

import attrs

from lucca_sync._lucca._http import is_int
from lucca_sync._lucca._v3 import RowKey

__all__ = [
    "MAX_UNCOUNTED_ROWS",
    "RepeatedPageError",
    "Restart",
    "V3Pass",
    "listed_count",
    "pages_for",
]

#: Without a count from Lucca, a pass gives up after this many rows (a runaway server).
MAX_UNCOUNTED_ROWS: Final = 1_000_000


def listed_count(body: object, *path: str) -> int | None:
    """The count at ``path`` in a decoded answer (``data.count``, ``totalCount``), or ``None``
    when the server sent none (absent, ``null``, or not a non-negative integer)."""
    found: object = body
    for key in path:
        found = found.get(key) if isinstance(found, dict) else None
    if is_int(found) and cast(int, found) >= 0:
        return cast(int, found)
    return None


def pages_for(rows: int, limit: int, *, overlap: bool = True) -> int:
    """Requests a pass needs to list ``rows`` rows, ``limit`` per page, up to the first page
    that is not full (pages overlapping by one row unless ``overlap`` is false)."""
    step = limit - 1 if overlap else limit
    if rows < limit:
        return 1
    return (rows - limit) // step + 2


class RepeatedPageError(Exception):
    """A page came back identical to the previous one: the server ignores the offset."""


@attrs.frozen
class Restart:
    """Why a pass cannot be trusted and the read starts again from the first page."""

    #: ``"shifted"``: rows moved between two pages; ``"short"``: fewer rows than Lucca's
    #: count; ``"long"``: more pages than the count implies.
    reason: str
    expected: int | None = None
    received: int | None = None


@attrs.define
class V3Pass:
    """The completeness checks of one pass of the legacy reader, page by page.

    Args:
        limit: The page size asked.
    """

    limit: int
    expected: int | None = None
    received: set[RowKey] = attrs.Factory(set)
    pages: int = 0
    cap: int = 1
    _overlap: RowKey | None = None
    _previous: list[RowKey] | None = None

    def first_page(self, count: int | None) -> None:
        """Record Lucca's count (``None``: not sent) from the first page."""
        self.expected = count
        self._recap()

    def page(self, keys: list[RowKey]) -> Restart | None:
        """Check one page's row keys against the previous page; ``None`` when it continues it.

        Raises:
            RepeatedPageError: The page is the previous one again (the server ignores the offset).
        """
        self.pages += 1
        previous, self._previous = self._previous, keys
        if previous is not None and keys == previous:
            raise RepeatedPageError
        overlap = self._overlap
        if overlap is not None:
            if overlap not in keys:
                return Restart("shifted")
            # A full page that ends with the overlap row brings nothing new: rows shifted by a
            # whole page (or the server ignores the offset); going on could never end.
            if len(keys) == self.limit and keys[-1] == overlap:
                return Restart("shifted")
        self.received.update(keys)
        return None

    def continue_after(self, keys: list[RowKey]) -> Restart | None:
        """Before the next page of a full one: ``None`` when the count allows another page."""
        self._overlap = keys[-1]
        if self.pages >= self.cap:
            return Restart("long", self.expected, len(self.received))
        return None

    def resize(self, limit: int) -> None:
        """The page size changes (after a 408): the bound on pages follows."""
        self.limit = limit
        self._recap(done=self.pages)

    def end(self) -> Restart | None:
        """After the last page: ``None`` when at least the count's rows came back."""
        if self.expected is not None and len(self.received) < self.expected:
            return Restart("short", self.expected, len(self.received))
        return None

    def _recap(self, done: int = 0) -> None:
        # One page of slack: employees hired while the pages are read.
        rows = MAX_UNCOUNTED_ROWS if self.expected is None else self.expected
        remaining = max(rows - len(self.received), 0) + 1  # + the overlap row, read again
        self.cap = done + pages_for(remaining + self.limit, self.limit)
