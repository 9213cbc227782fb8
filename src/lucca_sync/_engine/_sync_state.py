"""What a sync remembers between runs to read only what changed: :class:`SyncState`.

The state is a small JSON document kept by the sink (:meth:`lucca_sync.Sink.save_sync_state`)
and saved only after a successful apply, so that it never gets ahead of what the target holds.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, Final

import attrs

__all__ = ["SyncState"]

logger = logging.getLogger("lucca_sync.plan")

_FORMAT: Final = "lucca_sync.sync_state"
_VERSION: Final = 1


def _frozen_population(value: Mapping[int, int | None]) -> Mapping[int, int | None]:
    return value if isinstance(value, MappingProxyType) else MappingProxyType(dict(value))


@attrs.frozen
class SyncState:
    """The memory of the last successful sync, for the next incremental one.

    Args:
        watermark: The start of the day (tenant-local, naive) on which the last run read
            Lucca: the next incremental read asks for employees modified since then (minus a
            safety margin). A day, not the minute, so that plans made the same day carry the
            same state (and digest).
        today: The date the last run planned for.
        runs_since_full: Incremental runs since the last full read (0 after a full read).
        population: Every current or upcoming employee the last run knew of -> their Lucca
            manager id. Its size is checked against Lucca's count; it also gives the manager
            graph of the employees an incremental run does not re-read.
        full_read_on: The day of the last full read (``None`` in states saved before it was
            kept: the next incremental plan then reads everyone).
    """

    watermark: datetime
    today: date
    runs_since_full: int = 0
    population: Mapping[int, int | None] = attrs.field(
        factory=dict, converter=_frozen_population, hash=False
    )
    full_read_on: date | None = None

    def __repr__(self) -> str:
        return (
            f"SyncState(watermark={self.watermark.isoformat()!r}, "
            f"runs_since_full={self.runs_since_full}, population={len(self.population)})"
        )

    def to_dict(self) -> dict[str, object]:
        """The JSON-compatible document a sink stores (ids and dates only, no HR data)."""
        document = dict(self.canonical)
        document["population"] = [list(pair) for pair in self.canonical["population"]]
        return document

    @functools.cached_property
    def canonical(self) -> Mapping[str, Any]:
        """:meth:`to_dict`'s document, built once and read-only (pairs as tuples): what a
        plan's digest covers, without a copy of 100,000 pairs."""
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "watermark": self.watermark.isoformat(),
            "today": self.today.isoformat(),
            "runs_since_full": self.runs_since_full,
            # Pairs rather than an object: JSON object keys would turn the ids into text.
            # Tuples: the document is shared by every to_dict() of this state (read-only).
            "population": tuple(sorted(self.population.items())),
            "full_read_on": None if self.full_read_on is None else self.full_read_on.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: object) -> SyncState | None:
        """Read a document written by :meth:`to_dict`; ``None`` (a full read) when unusable.

        A state of another format or version, or a damaged one, is not an error: the next run
        is simply a full read, which rebuilds it.
        """
        if not isinstance(data, Mapping) or data.get("format") != _FORMAT:
            return None
        if data.get("version") != _VERSION:
            logger.info("sync state of version %r ignored: full read", data.get("version"))
            return None
        try:
            population: dict[int, int | None] = {}
            for key, value in data["population"]:
                if not isinstance(key, int) or not (value is None or isinstance(value, int)):
                    raise TypeError("population entries must be [id, manager id or null]")
                population[key] = value
            runs = data["runs_since_full"]
            if not isinstance(runs, int) or runs < 0:
                raise TypeError("runs_since_full must be an int >= 0")
            full_read_on = data.get("full_read_on")  # absent from states of older versions
            return cls(
                watermark=datetime.fromisoformat(str(data["watermark"])),
                today=date.fromisoformat(str(data["today"])),
                runs_since_full=runs,
                population=population,
                full_read_on=None
                if full_read_on is None
                else date.fromisoformat(str(full_read_on)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            logger.warning("the saved sync state is damaged (%s): full read", exc)
            return None
