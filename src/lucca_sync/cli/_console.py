"""What every command shares: exit codes, the `Console` that prints results, and failures the
command line detects itself.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import TextIO

from lucca_sync.cli._progress import Progress

__all__ = [
    "EXIT_CONFIG",
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_OUTPUT_CLOSED",
    "EXIT_SAFETY",
    "Console",
    "OutputClosed",
]

#: The command did what it was asked.
EXIT_OK = 0
#: A runtime error: Lucca, the target, a plan file, the file system.
EXIT_ERROR = 1
#: A configuration or usage error: nothing was read or written.
EXIT_CONFIG = 2
#: A safety limit stopped the sync: nothing was written.
EXIT_SAFETY = 3
#: The reader of stdout went away (128 + SIGPIPE, as shell tools killed by it).
EXIT_OUTPUT_CLOSED = 141

_PROG = "lucca-sync"
_ACTION_KINDS = ("creates", "reactivations", "updates", "excludes", "suspensions")


class OutputClosed(Exception):  # noqa: N818 - not an error: the reader went away
    """Whoever read stdout closed it (``lucca-sync plan | head -2``): stop writing, quietly."""


class Console:
    """Where a command's output goes: text for people, or one JSON document with ``--json``.

    Args:
        stdout: The output stream.
        json_mode: Print only the JSON report (from :meth:`report`) on ``stdout``.
        progress: The progress line on stderr (cleared before any output).

    Attributes:
        facts: What the run did, for the ``--log-format json`` run line: ``outcome``,
            ``digest``, ``counts``... (never personal data).
    """

    def __init__(self, stdout: TextIO, *, json_mode: bool, progress: Progress) -> None:
        self.stdout = stdout
        self.json_mode = json_mode
        self.progress = progress
        self.facts: dict[str, object] = {}

    def say(self, text: str = "") -> None:
        """Print a line for people (nothing in ``--json`` mode)."""
        if not self.json_mode:
            self.write(text + "\n")

    def report(self, data: object) -> None:
        """Print the machine-readable report (only in ``--json`` mode)."""
        if self.json_mode:
            self.write(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n")

    def write(self, text: str) -> None:
        """Write ``text`` on stdout as it is, clearing the progress line first.

        Raises:
            OutputClosed: stdout is a pipe whose reader has gone.
        """
        self.progress.clear()
        try:
            self.stdout.write(text)
            self.stdout.flush()
        except BrokenPipeError as exc:
            raise OutputClosed from exc


class _CommandError(Exception):
    """A runtime failure detected by the command line itself (exit code 1)."""


def _write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by its owner only (plans hold HR data).

    The file is written under a temporary name and renamed, so a reader never sees half of
    it, and an existing file's wider permissions are not kept.
    """
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()  # left by a crash; O_EXCL below makes a new, private file
        handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(handle, "w", encoding="utf-8") as stream:
            stream.write(text + "\n")
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise _CommandError(f"cannot write {path}: {exc.strerror or exc}") from exc
