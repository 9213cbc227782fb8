"""Running a command: logging set-up, dispatch, and turning any failure into one line and an
exit code.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TextIO

from lucca_sync.cli._config_load import secrets_to_hide
from lucca_sync.cli._console import (
    _PROG,
    EXIT_CONFIG,
    EXIT_ERROR,
    EXIT_SAFETY,
    Console,
    _CommandError,
)
from lucca_sync.cli._parser import build_parser
from lucca_sync.cli._progress import Progress
from lucca_sync.exceptions import (
    ConfigurationError,
    LuccaSyncError,
    SafetyError,
)

__all__ = ["main"]


def _exit_code(error: BaseException) -> int:
    if isinstance(error, ConfigurationError):
        return EXIT_CONFIG
    if isinstance(error, SafetyError):
        return EXIT_SAFETY
    return EXIT_ERROR


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _fail(error: BaseException, *, debug: bool, stderr: TextIO, secrets: Sequence[str]) -> int:
    if debug:
        traceback.print_exception(error, file=stderr)
    if isinstance(error, ConfigurationError) and len(error.problems) > 1:
        first = str(error).splitlines()[0].rstrip(":")
        lines = [f"  {problem}" for problem in error.problems]
        message = f"{first} (listed above)"
    elif isinstance(error, ConfigurationError):
        lines, message = [], _one_line(error.problems[0])
    elif isinstance(error, LuccaSyncError | _CommandError):
        lines, message = [], _one_line(str(error)) or type(error).__name__
    elif isinstance(error, KeyboardInterrupt):
        lines, message = [], "interrupted"
    elif isinstance(error, OSError) and error.strerror:
        # The system's reason only: the file name could be anything.
        lines, message = [], f"{type(error).__name__}: {error.strerror}"
    elif debug:
        lines, message = [], f"unexpected {type(error).__name__}: {_one_line(str(error))}"
    else:
        # The text of an exception lucca_sync did not make may quote HR data: not shown.
        hint = " (run again with --debug for the details and the traceback)"
        lines, message = [], f"unexpected {type(error).__name__}{hint}"
    text = "\n".join([*lines, f"{_PROG}: error: {message}"])
    for secret in secrets:
        text = text.replace(secret, "***")
    stderr.write(text + "\n")
    stderr.flush()
    return 130 if isinstance(error, KeyboardInterrupt) else _exit_code(error)


def _setup_logging(verbose: int, quiet: bool, stderr: TextIO) -> Callable[[], None]:
    """Send lucca_sync's log records to stderr; returns the undo function."""
    logger = logging.getLogger("lucca_sync")
    if quiet:
        level = logging.ERROR
    elif verbose >= 2:
        level = logging.DEBUG
    elif verbose == 1:
        level = logging.INFO
    else:
        level = logging.WARNING
    handler = logging.StreamHandler(stderr)
    handler.setFormatter(logging.Formatter(f"{_PROG}: %(levelname)s: %(name)s: %(message)s"))
    previous = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False

    def undo() -> None:
        logger.removeHandler(handler)
        logger.setLevel(previous[0])
        logger.propagate = previous[1]

    return undo


def _secrets_in_environment(args: argparse.Namespace) -> list[str]:
    """Values that must never be printed: the secrets the configuration points at."""
    config = getattr(args, "config", None)
    return secrets_to_hide(config, os.environ) if config is not None else []


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``lucca-sync`` with ``argv`` (default: the process arguments).

    Returns:
        The exit code: 0 success, 1 runtime error, 2 configuration or usage error, 3 safety stop.
        Usage errors (and ``--help``/``--version``) exit through ``SystemExit`` from argparse.
    """
    stdout, stderr = sys.stdout, sys.stderr
    args = build_parser().parse_args(argv)
    show_progress = not args.quiet and stderr.isatty()
    progress = Progress(stderr if show_progress else None)
    console = Console(stdout, json_mode=args.json_report, progress=progress)
    undo_logging = _setup_logging(args.verbose, args.quiet, stderr)
    handler: Callable[[argparse.Namespace, Console], int] = args.handler
    try:
        return handler(args, console)
    except (LuccaSyncError, _CommandError, OSError, KeyboardInterrupt, Exception) as error:
        progress.clear()
        return _fail(error, debug=args.debug, stderr=stderr, secrets=_secrets_in_environment(args))
    finally:
        progress.clear()
        undo_logging()
