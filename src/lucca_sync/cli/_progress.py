"""Progress shown on a terminal while ``lucca-sync`` reads Lucca and applies a plan.

Only for humans: progress goes to stderr and only when stderr is a terminal (the CLI decides),
so logs of scheduled runs stay clean. The wrappers here count what flows through a Lucca source
and a sink without changing it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from lucca_sync._employee import Employee
from lucca_sync.sinks import Sink, TargetUser

if TYPE_CHECKING:
    from lucca_sync._engine._plan_model import Plan

__all__ = ["Progress", "ProgressSink", "ProgressSource"]


class Progress:
    """One status line, rewritten in place on a terminal; does nothing when ``stream`` is None.

    Args:
        stream: Where to draw (a terminal), or ``None`` to stay silent.
        requests_per_minute: Lucca's request budget, for the time estimate.
        page_size: Employees per page, to turn a known total into pages left.
        clock: Monotonic seconds; redraws are limited to ten per second.
    """

    def __init__(
        self,
        stream: TextIO | None,
        *,
        requests_per_minute: int = 50,
        page_size: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._rpm = requests_per_minute
        self._page_size = page_size
        self._clock = clock
        self._last_draw = -math.inf
        self._width = 0
        self._rate: Callable[[], int] | None = None
        # What the line shows now (redrawn after a log line), or None once it was cleared.
        self._status: Callable[[], str] | None = None
        self.pages = 0
        self.employees = 0
        self.total: int | None = None
        self.actions = 0
        self.actions_total = 0

    def configure(self, *, requests_per_minute: int, page_size: int) -> None:
        """Use the configured request budget and page size for estimates."""
        self._rpm = requests_per_minute
        self._page_size = page_size

    def follow_rate(self, rate: Callable[[], int]) -> None:
        """Estimate with ``rate()``, the reader's current budget (it drops after a 429)."""
        self._rate = rate

    @property
    def requests_per_minute(self) -> int:
        """The request budget the estimate uses now."""
        return self._rate() if self._rate is not None else self._rpm

    @property
    def enabled(self) -> bool:
        """Whether anything is drawn."""
        return self._stream is not None

    def page_read(self, employees: int) -> None:
        """One page of ``employees`` was read from Lucca."""
        self.pages += 1
        self.employees += employees
        self._status = self.reading_line
        self._draw(self.reading_line())

    def reading_line(self) -> str:
        """The status line while reading: pages, employees, and the estimate when known."""
        line = f"Reading Lucca: page {self.pages}, {self.employees} employees"
        if self.total is not None and self.total > self.employees:
            left = math.ceil((self.total - self.employees) / self._page_size)
            rpm = self.requests_per_minute
            # Worst case: the budget is already spent, so each page waits its turn.
            seconds = math.ceil(left * 60 / rpm)
            line += (
                f" of ~{self.total}, {left} page{'s' if left != 1 else ''} left"
                f" (at most ~{seconds} s at {rpm} requests/min)"
            )
        return line

    def start_actions(self, total: int) -> None:
        """Applying ``total`` actions starts."""
        self.actions = 0
        self.actions_total = total

    def action_done(self) -> None:
        """One more action was handed to the sink."""
        self.actions += 1
        self._status = self._applying_line
        self._draw(self._applying_line())

    def _applying_line(self) -> str:
        return f"Applying: {self.actions}/{self.actions_total} actions"

    def message(self, text: str) -> None:
        """Show ``text`` as the status line now."""
        self._status = lambda: text
        self._draw(text, force=True)

    def clear(self) -> None:
        """Erase the status line and forget it (before normal output resumes)."""
        self._status = None
        self.erase()

    def erase(self) -> None:
        """Erase the status line for a moment; :meth:`redraw` shows it again."""
        if self._stream is not None and self._width:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()
            self._width = 0

    def redraw(self) -> None:
        """Draw the current status again, with a fresh estimate (after a log line)."""
        if self._status is not None:
            self._draw(self._status(), force=True)

    def _draw(self, text: str, *, force: bool = False) -> None:
        if self._stream is None:
            return
        now = self._clock()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        padding = max(0, self._width - len(text))
        self._stream.write("\r" + text + " " * padding)
        self._stream.flush()
        self._width = len(text)


class _CountingPager:
    """Iterates a reader's pager page by page, telling ``progress`` about each page."""

    def __init__(self, pager: Any, progress: Progress) -> None:
        self._pager = pager
        self._progress = progress

    def __getattr__(self, name: str) -> Any:
        # errors, requests_made and anything else the planner reads after iterating.
        return getattr(self._pager, name)

    def by_page(self) -> Iterator[list[Employee]]:
        for page in self._pager.by_page():
            self._progress.page_read(len(page))
            yield page

    def __iter__(self) -> Iterator[Employee]:
        for page in self.by_page():
            yield from page


class ProgressSource:
    """Wraps a :class:`~lucca_sync.LuccaDirectory` so that its reads report progress.

    Everything except ``list_employees`` is delegated unchanged.
    """

    def __init__(self, directory: Any, progress: Progress) -> None:
        self._directory = directory
        self._progress = progress
        if isinstance(getattr(directory, "requests_per_minute", None), int):
            progress.follow_rate(lambda: int(directory.requests_per_minute))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._directory, name)

    def list_employees(self, **options: Any) -> _CountingPager:
        """The directory's pager, counting pages and employees as they are read."""
        return _CountingPager(self._directory.list_employees(**options), self._progress)


def ProgressSink(sink: Sink, progress: Progress) -> Sink:  # noqa: N802 - a class factory
    """A sink forwarding every call to ``sink``, counting the actions applied.

    The wrapper is a subclass made for ``sink``'s class, so that ``key_field`` and
    ``manager_field`` (class attributes) are the wrapped sink's.
    """

    class _Counting(Sink):
        key_field = type(sink).key_field
        manager_field = type(sink).manager_field
        keeps_identifiers = type(sink).keeps_identifiers

        def __getattr__(self, name: str) -> Any:
            return getattr(sink, name)

        def accepts_field(self, name: str) -> bool:
            return sink.accepts_field(name)

        def users(self) -> Iterable[TargetUser]:
            return sink.users()

        def generation(self) -> int | None:
            return sink.generation()

        def check_plan(self, plan: Plan) -> Mapping[str, str]:
            return sink.check_plan(plan)

        def first_publication(self) -> str | None:
            return sink.first_publication()

        def create(self, key: str, fields: Mapping[str, str | None]) -> None:
            sink.create(key, fields)
            progress.action_done()

        def update(
            self, key: str, changes: Mapping[str, str | None], *, new_key: str | None = None
        ) -> None:
            sink.update(key, changes, new_key=new_key)
            progress.action_done()

        def suspend(self, key: str) -> None:
            sink.suspend(key)
            progress.action_done()

        def reactivate(self, key: str, changes: Mapping[str, str | None]) -> None:
            sink.reactivate(key, changes)
            progress.action_done()

        def exclude(self, key: str) -> None:
            sink.exclude(key)
            progress.action_done()

        def begin(self) -> None:
            sink.begin()

        def commit(self) -> Mapping[str, str]:
            progress.message("Publishing…")
            return sink.commit()

        def abort(self) -> None:
            sink.abort()

        def close(self) -> None:
            sink.close()

        # The Sink defaults keep no state: forward, or incremental runs would never start
        # and the rolling safety limits would never see this run.
        def load_sync_state(self) -> Mapping[str, object] | None:
            return sink.load_sync_state()

        def save_sync_state(self, state: Mapping[str, object]) -> None:
            sink.save_sync_state(state)

        def load_history(self) -> Sequence[Mapping[str, object]] | None:
            return sink.load_history()

        def append_history(self, record: Mapping[str, object]) -> None:
            sink.append_history(record)

    return _Counting()
