"""What ``lucca-sync`` writes on stderr: log lines with timestamps, or one JSON object per line.

``--log-format text`` (the default) prefixes each log line with the local time;
``--log-format json`` turns every line on stderr into a JSON object: the log records, then one
``"event": "run"`` object per run saying how it ended (applied, no-op, safety stop, error...),
with counts and the plan's digest but no personal data. The schema is documented in
``docs/reference/cli.md``; scheduled runs append stderr to a ``.jsonl`` file.

Log lines never cross the progress line: the handler clears it before writing a record and
draws it again after, with a fresh estimate (a 429 that slowed the pacing is logged, and the
redrawn estimate uses the new pace).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Literal, TextIO

from lucca_sync import __version__
from lucca_sync._lucca._redact import redact
from lucca_sync.cli._console import _PROG
from lucca_sync.cli._progress import Progress

__all__ = ["LogFormat", "json_line", "run_event", "setup_logging", "timestamp"]

LogFormat = Literal["text", "json"]


def timestamp(moment: float | None = None) -> str:
    """``moment`` (epoch seconds, default now) as ISO 8601 in UTC, to the millisecond."""
    when = datetime.now(UTC) if moment is None else datetime.fromtimestamp(moment, UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def json_line(data: Mapping[str, object]) -> str:
    """One compact JSON object on one line (no newline inside, whatever the values)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


class _TextFormatter(logging.Formatter):
    """``2026-03-14T02:17:05+01:00 lucca-sync: WARNING: lucca_sync.http: …`` (local time)."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="seconds")
        line = f"{when} {_PROG}: {record.levelname}: {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _JsonFormatter(logging.Formatter):
    """One ``"event": "log"`` object per record."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "time": timestamp(record.created),
            "event": "log",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return json_line(data)


class _Redacting(logging.Formatter):
    """Another formatter's line without the secrets, in any spelling (see ``redact``)."""

    def __init__(self, inner: logging.Formatter, secrets: Sequence[str]) -> None:
        super().__init__()
        self._inner = inner
        self._secrets = tuple(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return redact(self._inner.format(record), self._secrets, "***")


class _AroundProgress(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes a record on its own line: the progress line is cleared first, redrawn after."""

    def __init__(self, stream: TextIO, progress: Progress) -> None:
        super().__init__(stream)
        self._progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        self._progress.erase()
        super().emit(record)
        self._progress.redraw()


def setup_logging(
    *,
    verbose: int,
    quiet: bool,
    stderr: TextIO,
    log_format: LogFormat,
    progress: Progress,
    secrets: Sequence[str] = (),
) -> Callable[[], None]:
    """Send lucca_sync's log records to ``stderr``; returns the undo function.

    Args:
        verbose: 0 WARNING, 1 INFO, 2 or more DEBUG (which may show HR data).
        quiet: Only errors.
        stderr: The stream.
        log_format: ``"text"`` (timestamped lines) or ``"json"`` (one object per line).
        progress: The progress line to keep clear of log lines.
        secrets: Values no line may show, in any spelling (the configuration's secrets).
    """
    logger = logging.getLogger("lucca_sync")
    if quiet:
        level = logging.ERROR
    elif verbose >= 2:
        level = logging.DEBUG
    elif verbose == 1:
        level = logging.INFO
    else:
        level = logging.WARNING
    handler = _AroundProgress(stderr, progress)
    inner = _JsonFormatter() if log_format == "json" else _TextFormatter()
    handler.setFormatter(_Redacting(inner, secrets))
    previous = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False

    def undo() -> None:
        logger.removeHandler(handler)
        logger.setLevel(previous[0])
        logger.propagate = previous[1]

    return undo


def run_event(
    *,
    command: str | None,
    exit_code: int,
    seconds: float,
    facts: Mapping[str, object],
    outcome: str,
    message: str | None = None,
    extra: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The ``"event": "run"`` object that closes every run in ``--log-format json``.

    Args:
        command: The command run (``None`` when the arguments could not be read).
        exit_code: The process exit code.
        seconds: How long the run took.
        facts: What the command recorded (``digest``, ``counts``, ``failures``...).
        outcome: ``applied``, ``no-op``, ``planned``, ``checked``, ``previewed``, ``demo``,
            ``safety-stop``, ``error`` or ``interrupted``.
        message: The one-line reason of a failure.
        extra: More keys for a failure (``problems``, ``reasons``).
    """
    data: dict[str, object] = {
        "time": timestamp(),
        "event": "run",
        "level": "info" if exit_code == 0 else "error",
        "command": command,
        "outcome": outcome,
        "exit_code": exit_code,
        "seconds": round(seconds, 3),
        "version": __version__,
    }
    data.update(facts)
    if message is not None:
        data["message"] = message
    data.update(extra or {})
    return data
