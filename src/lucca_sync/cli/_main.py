"""Running a command: logging set-up, dispatch, and turning any failure into one line and an
exit code (or, with ``--log-format json``, into the run's JSON line).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from typing import TextIO

from lucca_sync._lucca._redact import redact
from lucca_sync.cli._check import CheckFailedError
from lucca_sync.cli._config_load import secrets_to_hide
from lucca_sync.cli._console import (
    _PROG,
    EXIT_CONFIG,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_OUTPUT_CLOSED,
    EXIT_SAFETY,
    Console,
    OutputClosed,
    _CommandError,
)
from lucca_sync.cli._logs import json_line, run_event, setup_logging
from lucca_sync.cli._messages import safety_stop_lines, safety_stop_message
from lucca_sync.cli._parser import UsageError, build_parser
from lucca_sync.cli._progress import Progress
from lucca_sync.exceptions import (
    ConfigurationError,
    LuccaSyncError,
    SafetyError,
)

__all__ = ["main"]


def _exit_code(error: BaseException) -> int:
    if isinstance(error, KeyboardInterrupt):
        return 130
    if isinstance(error, ConfigurationError | UsageError):
        return EXIT_CONFIG
    if isinstance(error, SafetyError):
        return EXIT_SAFETY
    return EXIT_ERROR


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _explain(
    error: BaseException, *, debug: bool, args: argparse.Namespace | None
) -> tuple[list[str], str, dict[str, object]]:
    """The lines before the last, the one-line message, and the JSON line's extra keys."""
    if isinstance(error, ConfigurationError) and len(error.problems) > 1:
        first = str(error).splitlines()[0].rstrip(":")
        lines = [f"  {problem}" for problem in error.problems]
        return lines, f"{first} (listed above)", {"problems": list(error.problems)}
    if isinstance(error, ConfigurationError):
        return [], _one_line(error.problems[0]), {}
    if isinstance(error, SafetyError) and error.reasons:
        extra: dict[str, object] = {"reasons": list(error.reasons), "digest": error.digest}
        return safety_stop_lines(error, args), safety_stop_message(error), extra
    if isinstance(error, CheckFailedError):
        lines = [f"  {problem}" for problem in error.problems]
        return lines, str(error), {"problems": list(error.problems)}
    if isinstance(error, UsageError):
        return [error.usage.rstrip()], str(error), {}
    if isinstance(error, LuccaSyncError | _CommandError):
        return [], _one_line(str(error)) or type(error).__name__, {}
    if isinstance(error, KeyboardInterrupt):
        return [], "interrupted", {}
    if isinstance(error, OSError) and error.strerror:
        # The system's reason only: the file name could be anything.
        return [], f"system error: {error.strerror}", {}
    if debug:
        return [], f"unexpected {type(error).__name__}: {_one_line(str(error))}", {}
    # The text of an exception lucca_sync did not make may quote HR data: not shown.
    hint = " (run again with --debug for the details and the traceback)"
    return [], f"unexpected {type(error).__name__}{hint}", {}


def _fail(
    error: BaseException,
    *,
    debug: bool,
    stderr: TextIO,
    secrets: Sequence[str],
    args: argparse.Namespace | None = None,
) -> int:
    """Print ``error`` for a person: lines of detail, then one ``lucca-sync: error:`` line."""
    if debug:
        # Messages are redacted where they are made; this catches every other spelling too.
        _write_err(stderr, "".join(traceback.format_exception(error)).rstrip("\n"), secrets)
    lines, message, _ = _explain(error, debug=debug, args=args)
    _write_err(stderr, "\n".join([*lines, f"{_PROG}: error: {message}"]), secrets)
    return _exit_code(error)


def _write_err(stderr: TextIO, text: str, secrets: Sequence[str]) -> None:
    text = redact(text, secrets, "***")
    try:
        stderr.write(text + "\n")
        stderr.flush()
    except BrokenPipeError:
        pass  # nobody is listening any more: nothing better to do


def _outcome(error: BaseException | None, facts: dict[str, object]) -> str:
    """How the run ended, taken out of ``facts`` (where a command that succeeded put it)."""
    said = str(facts.pop("outcome", "done"))
    if error is None:
        return said
    if isinstance(error, SafetyError):
        return "safety-stop"
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    return "error"


def _secrets_in_environment(args: argparse.Namespace | None) -> list[str]:
    """Values that must never be printed: the secrets the configuration points at."""
    config = getattr(args, "config", None)
    return secrets_to_hide(config, os.environ) if config is not None else []


def _log_format(argv: Sequence[str]) -> str:
    """``--log-format`` read before parsing, so that a usage error is reported in that format."""
    for index, arg in enumerate(argv):
        if arg.startswith("--log-format="):
            return arg.partition("=")[2]
        if arg == "--log-format" and index + 1 < len(argv):
            return argv[index + 1]
    return "text"


def _silence_stdout(stdout: TextIO) -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush does not fail too."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # not a real file (tests); nothing is flushed at exit then
        pass


def _write_run_line(
    stderr: TextIO,
    *,
    args: argparse.Namespace | None,
    error: BaseException | None,
    exit_code: int,
    facts: dict[str, object],
    started: float,
) -> None:
    """The ``--log-format json`` line that closes every run, whatever its outcome."""
    message: str | None = None
    extra: dict[str, object] = {}
    if error is not None:
        debug = bool(getattr(args, "debug", False))
        _, message, extra = _explain(error, debug=debug, args=args)
        if debug:
            extra["traceback"] = "".join(traceback.format_exception(error))
    outcome = _outcome(error, facts)
    event = run_event(
        command=getattr(args, "command", None),
        exit_code=exit_code,
        seconds=time.monotonic() - started,
        facts=facts,
        outcome=outcome,
        message=message,
        extra=extra,
    )
    _write_err(stderr, json_line(event), _secrets_in_environment(args))


def _nothing() -> None:
    """Nothing to undo: logging was not set up yet."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``lucca-sync`` with ``argv`` (default: the process arguments).

    Returns:
        The exit code: 0 success, 1 runtime error, 2 configuration or usage error, 3 safety
        stop, 130 interrupted, 141 stdout closed by its reader (see ``docs/reference/cli.md``).
        ``--help`` and ``--version`` exit through ``SystemExit`` from argparse.
    """
    stdout, stderr = sys.stdout, sys.stderr
    started = time.monotonic()
    arguments = list(sys.argv[1:] if argv is None else argv)
    json_logs = _log_format(arguments) == "json"
    args: argparse.Namespace | None = None
    progress = Progress(None)
    console = Console(stdout, json_mode=False, progress=progress)
    undo_logging: Callable[[], None] = _nothing
    error: BaseException | None = None
    exit_code = EXIT_OK
    try:
        args = build_parser().parse_args(arguments)
        show_progress = not args.quiet and not json_logs and stderr.isatty()
        progress = Progress(stderr if show_progress else None)
        console = Console(stdout, json_mode=args.json_report, progress=progress)
        secrets = _secrets_in_environment(args)
        undo_logging = setup_logging(
            verbose=args.verbose,
            quiet=args.quiet,
            stderr=stderr,
            log_format=args.log_format,
            progress=progress,
            secrets=secrets,
        )
        handler: Callable[[argparse.Namespace, Console], int] = args.handler
        exit_code = handler(args, console)
    except OutputClosed:
        progress.clear()
        _silence_stdout(stdout)
        exit_code = EXIT_OUTPUT_CLOSED
        console.facts["outcome"] = "output-closed"
    except (KeyboardInterrupt, Exception) as exc:
        progress.clear()
        error = exc
        exit_code = _exit_code(exc)
        debug = bool(getattr(args, "debug", False))
        secrets = _secrets_in_environment(args)
        if not json_logs:
            _fail(exc, debug=debug, stderr=stderr, secrets=secrets, args=args)
    finally:
        progress.clear()
        undo_logging()
    if json_logs:
        _write_run_line(
            stderr,
            args=args,
            error=error,
            exit_code=exit_code,
            facts=console.facts,
            started=started,
        )
    return exit_code
