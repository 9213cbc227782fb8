"""The run history: one :class:`RunRecord` per applied plan, kept by the sink beside its state.

:func:`lucca_sync.apply` hands each record to :meth:`lucca_sync.Sink.append_history`;
:func:`lucca_sync.plan` reads them back with :meth:`lucca_sync.Sink.load_history` to measure the
rolling limits of :class:`lucca_sync.Safety` (suspensions and reactivations over the last
``window_days`` days), and ``lucca-sync history`` lists them. A record holds target keys,
counts, dates and the plan's digest: no HR field value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final, Literal

import attrs

from lucca_sync.exceptions import SinkError

__all__ = [
    "RunOutcome",
    "RunRecord",
    "SuspensionKind",
    "Window",
    "last_suspension",
    "load_records",
    "window",
]

_FORMAT: Final = "lucca_sync.run"
_VERSION: Final = 1

#: Why a user was suspended: the contract ended, Lucca stopped returning them, or a rule
#: excluded them (``on_excluded="suspend"``).
SuspensionKind = Literal["departed", "not_visible", "excluded"]
#: ``"ok"``: every action succeeded; ``"partial"``: some failed (listed in the report). A run
#: whose sink published nothing is not an applied run and leaves no record.
RunOutcome = Literal["ok", "partial"]

_KINDS: Final = ("departed", "not_visible", "excluded")
_OUTCOMES: Final = ("ok", "partial")


def _frozen_counts(value: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(value))


def _frozen_suspended(value: Mapping[str, SuspensionKind]) -> Mapping[str, SuspensionKind]:
    return MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class RunRecord:
    """What one applied run did, as the run history keeps it.

    Args:
        run: The run's number in this sink's history (1, 2, …).
        applied_at: When the plan was applied (UTC).
        today: The day the plan was made for (tenant-local): rolling windows count in days.
        digest: The applied plan's digest.
        mode: ``"full"`` or ``"incremental"``: how Lucca was read.
        managed_active: The sink's managed active users when the plan was made.
        counts: Actions that succeeded, by kind (``create``, ``update``, ``reactivate``,
            ``exclude``, ``suspend``), plus ``failed``.
        suspended: Target key -> why it was suspended (``departed``, ``not_visible``,
            ``excluded``), for the suspensions that succeeded.
        reactivated: Target keys reactivated.
        approved: The limits the plan tripped and that were approved by its digest; the
            actions of such a run were reviewed, so they do not count in later rolling windows.
        outcome: ``"ok"`` or ``"partial"`` (some actions failed; those are not counted).
    """

    run: int
    applied_at: datetime
    today: date
    digest: str
    mode: Literal["full", "incremental"] = "full"
    managed_active: int = 0
    counts: Mapping[str, int] = attrs.field(factory=dict, converter=_frozen_counts, hash=False)
    suspended: Mapping[str, SuspensionKind] = attrs.field(
        factory=dict, converter=_frozen_suspended, hash=False
    )
    reactivated: tuple[str, ...] = ()
    approved: tuple[str, ...] = ()
    outcome: RunOutcome = "ok"

    def __repr__(self) -> str:
        return (
            f"RunRecord(run={self.run}, today={self.today.isoformat()}, "
            f"digest={self.digest[:12]!r}, outcome={self.outcome!r})"
        )

    @property
    def counted(self) -> bool:
        """Whether the run's actions count in rolling windows (those of unreviewed plans)."""
        return not self.approved

    def to_dict(self) -> dict[str, object]:
        """The JSON-compatible document a sink stores."""
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "run": self.run,
            "applied_at": self.applied_at.isoformat(),
            "today": self.today.isoformat(),
            "digest": self.digest,
            "mode": self.mode,
            "managed_active": self.managed_active,
            "counts": dict(self.counts),
            "suspended": dict(sorted(self.suspended.items())),
            "reactivated": list(self.reactivated),
            "approved": list(self.approved),
            "outcome": self.outcome,
        }

    @classmethod
    def from_dict(cls, data: object) -> RunRecord:
        """Read a document written by :meth:`to_dict`.

        Raises:
            ValueError: The document is not a run record of this version (the message says why).
        """
        if not isinstance(data, Mapping) or data.get("format") != _FORMAT:
            raise ValueError("not a lucca_sync run record")
        if data.get("version") != _VERSION:
            raise ValueError(f"run record version {data.get('version')!r} is not supported")
        try:
            counts = {str(k): _int(v) for k, v in _mapping(data["counts"]).items()}
            suspended: dict[str, SuspensionKind] = {}
            for key, kind in _mapping(data["suspended"]).items():
                suspended[str(key)] = _choice(kind, _KINDS)
            mode = data["mode"]
            if mode not in ("full", "incremental"):
                raise ValueError(f"mode {mode!r}")
            return cls(
                run=_int(data["run"]),
                applied_at=datetime.fromisoformat(str(data["applied_at"])),
                today=date.fromisoformat(str(data["today"])),
                digest=str(data["digest"]),
                mode=mode,
                managed_active=_int(data["managed_active"]),
                counts=counts,
                suspended=suspended,
                reactivated=tuple(str(key) for key in _list(data["reactivated"])),
                approved=tuple(str(limit) for limit in _list(data["approved"])),
                outcome=_choice(data["outcome"], _OUTCOMES),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed run record ({exc})") from exc


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"expected a whole number >= 0, got {value!r}")
    return value


def _mapping(value: object) -> Mapping[object, object]:
    if not isinstance(value, Mapping):
        raise ValueError("expected an object")
    return value


def _list(value: object) -> list[object]:
    if not isinstance(value, list):
        raise ValueError("expected a list")
    return value


def _choice(value: object, allowed: tuple[str, ...]) -> Any:
    if value not in allowed:
        raise ValueError(f"expected one of {', '.join(allowed)}, got {value!r}")
    return value


def load_records(documents: Iterable[object] | None) -> tuple[RunRecord, ...] | None:
    """The records of a sink's history, oldest first; ``None`` when the sink keeps none.

    Raises:
        SinkError: A record cannot be read (a hand edit, another program's line): skipping it
            would let the rolling limits forget its suspensions, so nothing is planned.
    """
    if documents is None:
        return None
    records: list[RunRecord] = []
    for index, document in enumerate(documents):
        try:
            records.append(RunRecord.from_dict(document))
        except ValueError as exc:
            raise SinkError(
                f"the run history is damaged: record {index + 1} cannot be read ({exc}). The "
                "rolling safety limits cannot be measured without it, so no run plans or "
                "publishes until it is fixed. Restore the sink's history from a backup, or "
                "start a new one knowingly (the rolling limits then count from zero; Elevo: "
                "sink.restart_history() in Python, lucca-sync history --config FILE --restart "
                "on the command line)"
            ) from exc
    return tuple(records)


@attrs.frozen
class Window:
    """What the runs of the last ``days`` days did, for the rolling limits.

    Args:
        days: The window's length in days (the plan's own day included).
        suspensions: Suspensions applied by counted runs (not approved ones) in the window.
        reactivations: Reactivations applied by counted runs in the window.
        runs: Counted runs in the window.
        since: The first day of the window.
    """

    days: int
    suspensions: int = 0
    reactivations: int = 0
    runs: int = 0
    since: date | None = None


def window(records: Iterable[RunRecord], *, today: date, days: int) -> Window:
    """Totals of the counted runs of the ``days`` days ending on ``today`` (included).

    A record dated after ``today`` counts too: a clock set back must not reset the window.
    """
    if days <= 0:
        return Window(days)
    since = today - timedelta(days=days - 1)
    suspensions = reactivations = runs = 0
    for record in records:
        if record.today >= since and record.counted:
            suspensions += len(record.suspended)
            reactivations += len(record.reactivated)
            runs += 1
    return Window(days, suspensions, reactivations, runs, since)


def last_suspension(records: Iterable[RunRecord]) -> dict[str, SuspensionKind]:
    """Target key -> why it was last suspended, over the whole history."""
    kinds: dict[str, SuspensionKind] = {}
    for record in records:
        for key in record.reactivated:
            kinds.pop(key, None)
        kinds.update(record.suspended)
    return kinds
