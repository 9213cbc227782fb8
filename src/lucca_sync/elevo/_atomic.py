"""Crash-safe file replacement: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

__all__ = [
    "TEMP_MARKER",
    "fsync_dir",
    "is_temp_of",
    "probe_folder",
    "remove_stale_temps",
    "temp_name",
    "write_atomic",
]

#: Every temporary name lucca_sync creates contains this, so leftovers of a crash can be found.
TEMP_MARKER = ".lucca-sync-tmp"


def temp_name(final_name: str) -> str:
    """A hidden, unique temporary name for ``final_name`` (``.users.csv.<hex>.lucca-sync-tmp``)."""
    return f".{final_name}.{secrets.token_hex(6)}{TEMP_MARKER}"


def is_temp_of(name: str, final_name: str) -> bool:
    """Whether ``name`` is a temporary name made by :func:`temp_name` for ``final_name``."""
    return name.startswith(f".{final_name}.") and name.endswith(TEMP_MARKER)


def _write_all(fd: int, data: bytes) -> None:
    # One indirection so tests can simulate a full disk; os.write may write less than asked.
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def write_atomic(path: Path, data: bytes, *, mode: int = 0o666) -> None:
    """Replace ``path`` with ``data`` atomically and durably.

    Writes a temporary file in the same folder, fsyncs it, renames it over ``path`` and fsyncs
    the folder. On any failure the temporary file is removed and ``path`` is left untouched.

    Raises:
        OSError: The folder is missing or not writable, the disk is full, ...
    """
    temp = path.with_name(temp_name(path.name))
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows cannot open folders
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temps(folder: Path, final_name: str) -> None:
    """Remove temporary files a crashed run left in ``folder`` for ``final_name``."""
    with contextlib.suppress(OSError):
        for entry in folder.iterdir():
            if is_temp_of(entry.name, final_name):
                with contextlib.suppress(OSError):
                    entry.unlink()


def probe_folder(folder: Path, final_name: str) -> str | None:
    """Write a temporary file in ``folder`` and remove it; the reason when that fails.

    The file has a temporary name of ``final_name`` (:func:`temp_name`), so that if it were
    ever left behind, the next delivery would remove it. Nothing else changes.

    Returns:
        ``None`` when ``folder`` exists and accepts a file; else the system's reason
        (``"does not exist"``, ``"is not a folder"``, ``"Permission denied"``...).
    """
    if not folder.exists():
        return "does not exist"
    if not folder.is_dir():
        return "is not a folder"
    temp = folder / temp_name(final_name)
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            _write_all(fd, b"lucca-sync check\n")
        finally:
            os.close(fd)
        temp.unlink()
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        return exc.strerror or "cannot write"
    return None
