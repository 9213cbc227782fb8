"""One run at a time per state folder: an operating-system lock on ``lucca-sync.lock``.

The lock is ``flock`` on a file of the state folder. The kernel releases it when its holder
exits, however it exits (``kill -9``, power cut), so a lock can never outlive a dead run and
there is nothing to clean up by hand. The file also holds who took it (process id, host, since
when) so that a run finding the lock taken can say by whom; that text is only informative, the
kernel's lock is what counts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import IO

import attrs

from lucca_sync.exceptions import ConfigurationError, SinkError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "StateLock", "StateLockedError"]

LOCK_NAME = "lucca-sync.lock"
#: How often a waiting run tries the lock again.
_POLL_SECONDS = 0.2

_log = logging.getLogger("lucca_sync.elevo")


class StateLockedError(SinkError):
    """Another run holds the state folder's lock; nothing was read or written.

    ``pid``, ``host`` and ``since`` describe the holder as it recorded itself (``None`` when it
    had not written its name yet).
    """

    def __init__(
        self,
        message: str,
        *,
        pid: int | None = None,
        host: str | None = None,
        since: str | None = None,
    ) -> None:
        self.pid = pid
        self.host = host
        self.since = since
        super().__init__(message)


def _holder(path: Path) -> dict[str, object]:
    """What the holder wrote about itself, or ``{}`` if unreadable (being written, hand-edited)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def _describe(holder: dict[str, object]) -> str:
    pid, host, since = holder.get("pid"), holder.get("host"), holder.get("since")
    if pid is None:
        return "another run (it has not recorded its name yet)"
    return f"process {pid} on host {host or '?'} since {since or '?'}"


@attrs.define
class StateLock:
    """The lock of one state folder, taken by :meth:`acquire` and given back by :meth:`release`.

    Args:
        folder: The state folder (created when missing).
        clock: Seconds, monotonic (tests pass a fake one).
        sleep: Waits between two attempts (tests pass a fake one).
    """

    folder: Path
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _file: IO[str] | None = attrs.field(default=None, init=False)
    # Closes the file (so releases the lock) when a sink is dropped without close().
    _finalizer: weakref.finalize[[], StateLock] | None = attrs.field(default=None, init=False)

    @property
    def path(self) -> Path:
        """The lock file."""
        return self.folder / LOCK_NAME

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._file is not None

    def acquire(self, timeout: float = 0.0) -> None:
        """Take the lock, waiting up to ``timeout`` seconds for another run to finish.

        Raises:
            StateLockedError: Another run still holds it after ``timeout`` (at once for 0).
            SinkError: The state folder or the lock file cannot be created.
            ConfigurationError: The system has no ``flock`` (not a POSIX system).
        """
        if self._file is not None:
            return
        if fcntl is None:  # pragma: no cover - Windows
            raise ConfigurationError("ElevoSink locks its state folder with flock: POSIX only")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            # Not truncated on open: the holder's name stays readable for whoever waits.
            handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - kept open
        except OSError as exc:
            raise SinkError(
                f"cannot lock the Elevo state folder {self.folder} ({exc.strerror}); check "
                "that state_dir is a folder and writable"
            ) from exc
        deadline = self.clock() + max(timeout, 0.0)
        try:
            while True:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if self.clock() >= deadline:
                        raise self._locked(timeout) from None
                    self.sleep(_POLL_SECONDS)
            previous = _holder(self.path)
            if previous.get("pid") is not None:
                # Nobody holds the kernel lock any more: that run ended without tidying up.
                _log.info("taking over the state lock last held by %s", _describe(previous))
            handle.seek(0)
            handle.truncate()
            me = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            handle.write(json.dumps(me) + "\n")
            handle.flush()
        except BaseException:
            handle.close()
            raise
        self._file = handle
        self._finalizer = weakref.finalize(self, handle.close)

    def _locked(self, timeout: float) -> StateLockedError:
        holder = _holder(self.path)
        waited = f" after waiting {timeout:g} s" if timeout > 0 else ""
        pid = holder.get("pid")
        host = holder.get("host")
        since = holder.get("since")
        return StateLockedError(
            f"the Elevo state in {self.folder} is in use by {_describe(holder)}{waited}; "
            "nothing was read or written. Let that run finish (a lock of a process that died "
            "is released by the system), or wait for it: ElevoSink(..., lock_timeout=SECONDS) "
            "in Python, lucca-sync plan/apply --wait-for-lock SECONDS on the command line",
            pid=pid if isinstance(pid, int) else None,
            host=host if isinstance(host, str) else None,
            since=since if isinstance(since, str) else None,
        )

    def release(self) -> None:
        """Give the lock back (a no-op when not held); the holder's name is erased."""
        handle, self._file = self._file, None
        if handle is None:
            return
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        with contextlib.suppress(OSError):
            handle.seek(0)
            handle.truncate()
            handle.flush()
        handle.close()  # closing the file releases the flock
