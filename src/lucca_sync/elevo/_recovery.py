"""When the sink's memory cannot be trusted: the error that stops the run, and the rebuild.

Elevo cannot be read back, so the state folder is the sink's only knowledge of who Elevo holds.
A sink that lost it and carried on would believe Elevo empty, and its next file would leave out
everyone the state protected — which Elevo turns into suspensions. So a missing, unreadable or
mismatched state is never papered over while there is evidence of an earlier publication: the
run stops with :class:`StateRecoveryError`, whose message names the way back:

* **from the published file** (the users file still in the drop folder or on the SFTP server,
  or a copy of it): its full rows become managed users when their identifier is a Lucca id, and
  unmanaged users (adopted again with ``match_by``) otherwise; its ``skip`` rows become
  unmanaged users, so they stay ``skip`` rows;
* **from an export of Elevo's directory**: every user becomes unmanaged, as on a first run with
  ``adopt_from``; plan with ``match_by`` to take the managed ones back by identifier or e-mail.

Either way nobody leaves the next file without a ``Suspend`` in its plan.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path

from lucca_sync.elevo._csv import KEY, SKIP, accepts_field
from lucca_sync.elevo._state import Entry
from lucca_sync.exceptions import SinkError

__all__ = ["StateRecoveryError", "entries_from_file", "how_to_rebuild"]

_SKIP_VALUES = frozenset({"true", "yes", "oui"})


class StateRecoveryError(SinkError):
    """The sink's state is missing, unreadable or does not match what was published.

    Nothing was planned or published. The message says what was found and how to rebuild the
    state (:meth:`lucca_sync.elevo.ElevoSink.rebuild_state`, ``lucca-sync rebuild-state``).
    """


def how_to_rebuild(state_dir: Path, *, published: bool) -> str:
    """The recovery sentence of a :class:`StateRecoveryError`, in Python and CLI terms."""
    options = []
    if published:
        options.append(
            "from the published users file: sink.rebuild_state() in Python, "
            "lucca-sync rebuild-state --config FILE on the command line"
        )
    options.append(
        "from a copy of the last published file: sink.rebuild_state(from_file=PATH), "
        "lucca-sync rebuild-state --config FILE --from-file PATH"
    )
    options.append(
        "from an export of Elevo's directory: sink.rebuild_state(from_export=PATH), "
        "lucca-sync rebuild-state --config FILE --from-export PATH (then plan with match_by)"
    )
    return (
        f"Restore {state_dir} from a backup if you have one; otherwise rebuild it "
        + "; or ".join(options)
    )


def entries_from_file(data: bytes, *, where: str) -> dict[str, Entry]:
    """The state a published users file implies (see the module's docstring).

    Raises:
        SinkError: The file is not an Elevo users file (no ``uniq_identifier`` column, not
            UTF-8 CSV, an identifier twice).
    """
    try:
        text = data.decode("utf-8-sig")
        records = list(csv.DictReader(io.StringIO(text, newline=""), strict=True))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SinkError(f"{where} is not a readable Elevo users file ({exc})") from exc
    if not records and KEY not in text.split("\n", 1)[0]:
        raise SinkError(f"{where} has no {KEY} column: not an Elevo users file")
    entries: dict[str, Entry] = {}
    for line, record in enumerate(records, start=2):
        key = (record.get(KEY) or "").strip()
        if not key:
            raise SinkError(f"{where}:{line}: a row without {KEY}: not a file lucca_sync wrote")
        if key in entries:
            raise SinkError(f"{where}:{line}: {KEY} {key} appears twice")
        if (record.get(SKIP) or "").strip().casefold() in _SKIP_VALUES:
            entries[key] = Entry(fields={KEY: key}, managed=False)
            continue
        fields: Mapping[str, str | None] = {
            name: value or None
            for name, value in record.items()
            if name is not None and accepts_field(name)
        }
        # A Lucca id was written by the sync for a user it manages; any other identifier is a
        # user adopted with its own identifier: unmanaged until adopted again (match_by).
        entries[key] = Entry(fields={**fields, KEY: key}, managed=key.isascii() and key.isdigit())
    return entries


def read_copy(path: Path) -> bytes:
    """The bytes of a copy of a published file.

    Raises:
        SinkError: It cannot be read.
    """
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SinkError(f"cannot read {path} ({exc.strerror})") from exc
