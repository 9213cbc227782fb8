"""``lucca-sync history``: the runs applied to the target, from the sink's run history."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from lucca_sync._engine._history import RunRecord, load_records
from lucca_sync.cli._config_load import load_config
from lucca_sync.cli._console import EXIT_OK, Console, _CommandError
from lucca_sync.exceptions import ConfigurationError

if TYPE_CHECKING:
    from lucca_sync.elevo import ElevoSink

__all__ = ["_cmd_history"]

_COLUMNS = ("create", "update", "reactivate", "exclude", "suspend")
_HEADER = (
    f"{'run':>5}  {'day':<10}  {'read':<11}"
    + "".join(f"  {kind:>10}" for kind in _COLUMNS)
    + "  digest        notes"
)


def _line(record: RunRecord) -> str:
    notes = []
    if record.outcome != "ok":
        notes.append(f"{record.counts.get('failed', 0)} failed")
    if record.approved:
        notes.append(f"approved: {', '.join(record.approved)}")
    counts = "".join(f"  {record.counts.get(kind, 0):>10}" for kind in _COLUMNS)
    return (
        f"{record.run:>5}  {record.today.isoformat():<10}  {record.mode:<11}{counts}  "
        f"{record.digest[:12]}  {'; '.join(notes)}"
    ).rstrip()


def _details(record: RunRecord) -> list[str]:
    lines = [
        f"run {record.run}: applied {record.applied_at.isoformat(timespec='seconds')} for "
        f"{record.today.isoformat()} ({record.mode} read of Lucca)",
        f"plan digest:    {record.digest}",
        f"outcome:        {record.outcome}",
        f"managed active: {record.managed_active} when planned",
        "counts:         "
        + ", ".join(f"{count} {kind}" for kind, count in sorted(record.counts.items())),
    ]
    if record.approved:
        lines.append(
            f"approved:       {', '.join(record.approved)} (reviewed by digest; not counted in "
            f"later rolling limits)"
        )
    lines.extend(
        f"suspended       {key}  {kind.replace('_', ' ')}"
        for key, kind in sorted(record.suspended.items())
    )
    lines.extend(f"reactivated     {key}" for key in record.reactivated)
    return lines


def _restart(sink: ElevoSink, console: Console) -> None:
    """Start a new run history, knowingly (the sink's old one was lost or damaged)."""
    sink.restart_history()
    console.say(
        "Started a new run history: the rolling safety limits count from zero (the previous "
        "history, if any, is kept beside it as elevo-history.replaced-<time>.jsonl)."
    )


def _cmd_history(args: argparse.Namespace, console: Console) -> int:
    if args.action == "show" and args.run is None:
        raise ConfigurationError("history show: give a run number (lucca-sync history lists them)")
    if args.action == "list" and args.run is not None:
        raise ConfigurationError(f"history: to see run {args.run}, use: history show {args.run}")
    if args.last < 1:
        raise ConfigurationError("--last: expected 1 or more")
    config = load_config(args.config)
    sink = config.sink(secrets=False)
    if args.restart:
        try:
            _restart(sink, console)
        finally:
            sink.close()
        return EXIT_OK
    try:
        records = load_records(sink.load_history()) or ()
    finally:
        sink.close()
    if args.action == "show":
        found = [record for record in records if record.run == args.run]
        if not found:
            raise _CommandError(
                f"no run {args.run} in the history of {config.describe_sink()} (lucca-sync "
                f"history lists them)"
            )
        for line in _details(found[-1]):
            console.say(line)
        console.report(found[-1].to_dict())
        return EXIT_OK
    shown = records[-args.last :]
    if not records:
        console.say("No run recorded yet: the history starts with the first lucca-sync apply.")
    else:
        console.say(_HEADER)
        for record in shown:
            console.say(_line(record))
        if len(shown) < len(records):
            console.say(f"({len(records) - len(shown)} earlier run(s); --last N shows more)")
    console.report([record.to_dict() for record in shown])
    return EXIT_OK
