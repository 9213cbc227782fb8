"""Elevo delivery faults at commit time, against a target pre-filled with every employee.

A first run publishes the 250 employees through a local drop folder; the directory then
changes and the second run's delivery fails. The run must raise ``SinkError`` with the
published file, the state and the drop folder exactly as they were (no temporary file left),
and the next run must converge. SFTP cases run a real OpenSSH server (``tests/sftp_server.py``).
"""

from __future__ import annotations

import contextlib
import errno
import getpass
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paramiko
import pytest

import sftp_server
from fake_clock import FakeClock
from lucca_sync.elevo import ElevoSink, _atomic
from lucca_sync.exceptions import SinkError
from lucca_sync.testing import FakeLucca
from sftp_server import SftpServer, keygen

from ._support import (
    TODAY,
    change_directory,
    company,
    elevo_sink,
    expected_state,
    run_sync,
    state_of,
)
from .conftest import Target
from .matrix import DELIVERY, Case, cases_for

NEEDS_SSHD = {"sftp-dropped-mid-upload", "sftp-unknown-host-key", "sftp-changed-host-key"}


def _param(case: Case) -> object:
    marks = [pytest.mark.sftp] if case.id in NEEDS_SSHD else []
    return pytest.param(case, id=case.id, marks=marks)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port  # closed again: nothing listens there


def _running(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie waiting to be reaped does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _in(folder: Path, path: object) -> bool:
    return Path(os.fsdecode(path)).parent.resolve() == folder.resolve()  # type: ignore[arg-type]


def _sftp_sink(
    tmp_path: Path, *, port: int, known_hosts: Path, key: Path | None = None
) -> ElevoSink:
    return ElevoSink.over_sftp(
        "127.0.0.1",
        port=port,
        username=getpass.getuser(),
        private_key_path=key,
        known_hosts=known_hosts,
        remote_dir=str(tmp_path / "drop"),
        state_dir=tmp_path / "state",
        timeout=5.0,
    )


@contextlib.contextmanager
def faulty_sink(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ElevoSink, ElevoSink, Callable[[], None]]]:
    """(the sink whose delivery fails, a working sink for the next run, how to end the fault)."""
    drop = tmp_path / "drop"
    if case.id == "folder-not-writable":
        real_open = os.open

        def refusing_open(path: object, flags: int, mode: int = 0o777, **kw: object) -> int:
            if _in(drop, path):  # root ignores folder modes: refuse like a read-only share
                raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(path))  # type: ignore[arg-type]
            return real_open(path, flags, mode, **kw)  # type: ignore[arg-type]

        sink = elevo_sink(tmp_path)
        with monkeypatch.context() as patch:
            patch.setattr(os, "open", refusing_open)
            yield sink, sink, patch.undo
        return
    if case.id == "disk-full":
        real_write = _atomic._write_all

        def full_disk(fd: int, data: bytes) -> None:
            if _in(drop, os.readlink(f"/proc/self/fd/{fd}")):  # the users file, not the state
                raise OSError(errno.ENOSPC, "No space left on device")
            real_write(fd, data)

        sink = elevo_sink(tmp_path)
        with monkeypatch.context() as patch:
            patch.setattr(_atomic, "_write_all", full_disk)
            yield sink, sink, patch.undo
        return
    if case.id == "sftp-refused":
        known_hosts = tmp_path / "known_hosts"
        known_hosts.write_text("")
        refused = _sftp_sink(tmp_path, port=_free_port(), known_hosts=known_hosts)
        yield refused, elevo_sink(tmp_path), lambda: None
        return
    with SftpServer(tmp_path) as server:
        good = _sftp_sink(
            tmp_path, port=server.port, known_hosts=server.known_hosts, key=server.client_key
        )
        if case.id == "sftp-dropped-mid-upload":
            assert server._process is not None
            server_pid = server._process.pid
            real_sftp_write = paramiko.SFTPFile.write

            def write_then_drop(self: paramiko.SFTPFile, data: bytes) -> None:
                half = len(data) // 2
                real_sftp_write(self, data[:half])
                sessions = sftp_server._descendants(server_pid)
                server.drop_connections()  # the session dies mid-upload ...
                deadline = time.monotonic() + 5
                while any(map(_running, sessions)) and time.monotonic() < deadline:
                    os.sched_yield()  # ... and is gone before the rest is sent
                real_sftp_write(self, data[half:])

            with monkeypatch.context() as patch:
                patch.setattr(paramiko.SFTPFile, "write", write_then_drop)
                yield good, good, patch.undo
            return
        other = keygen(tmp_path / "other_host_key").with_suffix(".pub").read_text().split()
        known_hosts = tmp_path / "known_hosts"
        host = (
            "[elevo.example]:22"  # the file knows another server only
            if case.id == "sftp-unknown-host-key"
            else f"[127.0.0.1]:{server.port}"  # the file knows another key for this server
        )
        known_hosts.write_text(f"{host} {other[0]} {other[1]}\n")
        untrusting = _sftp_sink(
            tmp_path, port=server.port, known_hosts=known_hosts, key=server.client_key
        )
        yield untrusting, good, lambda: None


def point_state_at(state_dir: Path, sink: ElevoSink) -> None:
    """The drop folder is also the SFTP server's remote folder: one target, two names.

    The state records where it was published and refuses another target; the test moves
    between a folder delivery and an SFTP delivery of that same folder, so it says so.
    """
    path = state_dir / "elevo-state.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    document["target"] = sink._location()
    path.write_text(json.dumps(document), encoding="utf-8")


class TestDeliveryFaults:
    """A failed delivery publishes nothing, changes no state, leaves no file; then converges."""

    def test_every_fault_of_the_matrix_is_injected(self) -> None:
        assert {case.id for case in cases_for(DELIVERY)} == {
            "folder-not-writable",
            "disk-full",
            "sftp-refused",
        } | NEEDS_SSHD

    @pytest.mark.parametrize("case", [_param(case) for case in cases_for(DELIVERY)])
    def test_fault(
        self, case: Case, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with FakeLucca(company(), today=TODAY) as fake:
            first = Target(elevo_sink(tmp_path), tmp_path / "drop", tmp_path / "state")
            assert run_sync(fake, first.sink, clock).ok
            before = state_of(first.sink)
            first.sink.close()
            change_directory(fake)
            with faulty_sink(case, tmp_path, monkeypatch) as (failing, working, end_fault):
                point_state_at(tmp_path / "state", failing)
                target = Target(failing, tmp_path / "drop", tmp_path / "state")
                target.mark()
                with pytest.raises(SinkError) as raised:
                    run_sync(fake, failing, clock)
                target.assert_unchanged(hidden_temp_allowed=case.id == "sftp-dropped-mid-upload")
                assert state_of(failing) == before
                failing.close()
                if case.id in NEEDS_SSHD | {"sftp-refused"}:
                    assert "sftp://" in str(raised.value)
                if case.id == "sftp-changed-host-key":
                    assert "differs" in str(raised.value)
                if case.id == "sftp-unknown-host-key":
                    assert "not in" in str(raised.value)
                # The next run, once the fault is gone, converges.
                end_fault()
                point_state_at(tmp_path / "state", working)
                assert run_sync(fake, working, clock).ok
            expected = expected_state(fake.users, before)
            assert state_of(working) == expected
            working.close()
            point_state_at(tmp_path / "state", elevo_sink(tmp_path))
            Target(working, tmp_path / "drop", tmp_path / "state").assert_file_matches(expected)
            assert state_of(elevo_sink(tmp_path)) == expected
