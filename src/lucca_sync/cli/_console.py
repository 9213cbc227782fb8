"""What every command shares: exit codes, the `Console` that prints results, and failures the
command line detects itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from lucca_sync.cli._progress import Progress

__all__ = ["EXIT_CONFIG", "EXIT_ERROR", "EXIT_OK", "EXIT_SAFETY", "Console"]

#: The command did what it was asked.
EXIT_OK = 0
#: A runtime error: Lucca, the target, a plan file, the file system.
EXIT_ERROR = 1
#: A configuration or usage error: nothing was read or written.
EXIT_CONFIG = 2
#: A safety limit stopped the sync: nothing was written.
EXIT_SAFETY = 3

_PROG = "lucca-sync"
_ACTION_KINDS = ("creates", "reactivations", "updates", "excludes", "suspensions")


class Console:
    """Where a command's output goes: text for people, or one JSON document with ``--json``.

    Args:
        stdout: The output stream.
        json_mode: Print only the JSON report (from :meth:`report`) on ``stdout``.
        progress: The progress line on stderr (cleared before any output).
    """

    def __init__(self, stdout: TextIO, *, json_mode: bool, progress: Progress) -> None:
        self.stdout = stdout
        self.json_mode = json_mode
        self.progress = progress

    def say(self, text: str = "") -> None:
        """Print a line for people (nothing in ``--json`` mode)."""
        if not self.json_mode:
            self.progress.clear()
            self.stdout.write(text + "\n")
            self.stdout.flush()

    def report(self, data: object) -> None:
        """Print the machine-readable report (only in ``--json`` mode)."""
        if self.json_mode:
            self.progress.clear()
            self.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True))
            self.stdout.write("\n")
            self.stdout.flush()


class _CommandError(Exception):
    """A runtime failure detected by the command line itself (exit code 1)."""


def _write_text(path: Path, text: str) -> None:
    try:
        path.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise _CommandError(f"cannot write {path}: {exc.strerror or exc}") from exc
