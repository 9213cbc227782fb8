"""SFTP delivery of ElevoSink against a real OpenSSH server on 127.0.0.1."""

from __future__ import annotations

import getpass
import shutil
import socket
import sys
from pathlib import Path

import paramiko
import pytest

import sftp_server
from lucca_sync.elevo import ElevoSink, SftpDelivery, StateRecoveryError, UncertainDeliveryError
from lucca_sync.exceptions import ConfigurationError, SinkError
from sftp_server import SftpServer, keygen


def person(key: str) -> dict[str, str | None]:
    return {"uniq_identifier": key, "first_name": "Zoé", "email": f"u{key}@acme.example"}


def make_sink(server: SftpServer, remote: Path, tmp_path: Path, **options: object) -> ElevoSink:
    settings: dict[str, object] = {
        "port": server.port,
        "username": getpass.getuser(),
        "private_key_path": server.client_key,
        "known_hosts": server.known_hosts,
        "remote_dir": str(remote),
        "state_dir": tmp_path / "state",
        "timeout": 5.0,
        **options,
    }
    return ElevoSink.over_sftp("127.0.0.1", **settings)  # type: ignore[arg-type]


def publish(sink: ElevoSink, *keys: str) -> None:
    sink.begin()
    for key in keys:
        sink.create(key, person(key))
    assert sink.commit() == {}


@pytest.mark.sftp
class TestSftpDelivery:
    """Uploads are verified, atomic, and leave the previous file and state on failure."""

    def test_upload_leaves_only_the_final_file(
        self, server: SftpServer, remote: Path, tmp_path: Path
    ) -> None:
        sink = make_sink(server, remote, tmp_path)
        publish(sink, "1", "2")
        assert [p.name for p in remote.iterdir()] == ["users.csv"]
        text = (remote / "users.csv").read_bytes().decode("utf-8")
        assert text.splitlines()[1:] == ["1,,Zoé,u1@acme.example", "2,,Zoé,u2@acme.example"]
        assert {u.key for u in sink.users()} == {"1", "2"}

    def test_second_upload_replaces_the_first(
        self, server: SftpServer, remote: Path, tmp_path: Path
    ) -> None:
        sink = make_sink(server, remote, tmp_path)
        publish(sink, "1")
        publish(sink, "2")
        assert (remote / "users.csv").read_bytes().count(b"\r\n") == 3
        assert [p.name for p in remote.iterdir()] == ["users.csv"]

    def test_unknown_host_key_is_refused(
        self, server: SftpServer, remote: Path, tmp_path: Path
    ) -> None:
        other = keygen(tmp_path / "other_host")
        known = tmp_path / "known_hosts"
        known.write_text(f"example.org {other.with_suffix('.pub').read_text()}")
        sink = make_sink(server, remote, tmp_path, known_hosts=known)
        with pytest.raises(SinkError, match="not in") as caught:
            sink.create("1", person("1"))  # no state: the server is asked for an earlier file
        assert f"127.0.0.1:{server.port}" in str(caught.value)
        assert list(remote.iterdir()) == []
        assert not sink.state_path.exists()
        assert known.read_text().startswith("example.org")  # nothing added silently

    def test_changed_host_key_is_refused(
        self, server: SftpServer, remote: Path, tmp_path: Path
    ) -> None:
        other = keygen(tmp_path / "impostor").with_suffix(".pub").read_text().split()
        known = tmp_path / "known_hosts"
        known.write_text(f"[127.0.0.1]:{server.port} {other[0]} {other[1]}\n")
        sink = make_sink(server, remote, tmp_path, known_hosts=known)
        with pytest.raises(SinkError, match="differs") as caught:
            sink.create("1", person("1"))
        assert other[1] not in str(caught.value)
        assert list(remote.iterdir()) == []

    def test_refused_login_is_reported(
        self, server: SftpServer, remote: Path, tmp_path: Path
    ) -> None:
        stranger = keygen(tmp_path / "stranger")
        sink = make_sink(server, remote, tmp_path, private_key_path=stranger)
        with pytest.raises(SinkError, match="refused the login"):
            sink.create("1", person("1"))
        assert list(remote.iterdir()) == []

    def test_connection_refused_is_reported(
        self, server: SftpServer, remote: Path, tmp_path: Path
    ) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed_port = probe.getsockname()[1]
        sink = make_sink(server, remote, tmp_path, port=closed_port)
        with pytest.raises(SinkError, match=f"127.0.0.1:{closed_port}"):
            sink.create("1", person("1"))
        assert not sink.state_path.exists()

    def test_failed_rename_removes_the_temporary_file(
        self, server: SftpServer, remote: Path, tmp_path: Path
    ) -> None:
        sink = make_sink(server, remote, tmp_path)
        publish(sink, "1")
        (remote / "users.csv").unlink()
        (remote / "users.csv").mkdir()  # the final name is taken by a folder: rename fails
        sink.create("2", person("2"))
        with pytest.raises(SinkError, match="previous file is untouched"):
            sink.commit()
        assert [p.name for p in remote.iterdir()] == ["users.csv"]
        assert {user.key for user in sink.users()} == {"1"}

    def test_connection_dropped_mid_upload_publishes_nothing(
        self,
        server: SftpServer,
        remote: Path,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        sink = make_sink(server, remote, tmp_path)
        publish(sink, "1")
        before = (remote / "users.csv").read_bytes()
        state_before = sink.state_path.read_bytes()
        real_write = paramiko.SFTPFile.write

        def write_then_drop(self: paramiko.SFTPFile, data: bytes) -> None:
            real_write(self, data)
            server.drop_connections()  # the session dies mid-upload

        monkeypatch.setattr(paramiko.SFTPFile, "write", write_then_drop)
        sink.begin()
        for number in range(2, 3000):
            sink.create(str(number), person(str(number)))
        with pytest.raises(SinkError):
            sink.commit()
        monkeypatch.undo()
        assert (remote / "users.csv").read_bytes() == before
        assert sink.state_path.read_bytes() == state_before
        assert {u.key for u in sink.users()} == {"1"}
        sink.close()
        # A new server on the same folder: the next run cleans the leftover and publishes.
        with SftpServer(tmp_path) as again:
            retry = make_sink(again, remote, tmp_path)
            publish(retry, "1", "2")
        assert [p.name for p in remote.iterdir()] == ["users.csv"]

    def test_connection_lost_after_the_rename_is_delivered_again_next_time(
        self,
        server: SftpServer,
        remote: Path,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Renamed on the server, answer lost: Elevo has a file the state does not record."""
        sink = make_sink(server, remote, tmp_path)
        publish(sink, "1")
        real_rename = paramiko.SFTPClient.posix_rename

        def rename_then_drop(self: paramiko.SFTPClient, old: str, new: str) -> None:
            real_rename(self, old, new)
            server.drop_connections()
            raise EOFError("connection lost before the server's answer")

        monkeypatch.setattr(paramiko.SFTPClient, "posix_rename", rename_then_drop)
        with pytest.raises(UncertainDeliveryError):
            publish(sink, "1", "2")
        monkeypatch.undo()
        assert "\n2," in (remote / "users.csv").read_text(encoding="utf-8")  # published
        assert {u.key for u in sink.users()} == {"1"}  # not recorded
        sink.close()
        with SftpServer(tmp_path) as again:
            retry = make_sink(again, remote, tmp_path)
            retry.begin()  # nothing changed in the recorded state ...
            assert retry.commit() == {}
        # ... yet the recorded state was delivered, so Elevo and the state agree again.
        assert "\n2," not in (remote / "users.csv").read_text(encoding="utf-8")

    def test_staging_folder_keeps_partial_uploads_out_of_the_drop_folder(
        self, server: SftpServer, remote: Path, tmp_path: Path
    ) -> None:
        staging = tmp_path / "uploads" / "staging"
        staging.mkdir()
        sink = make_sink(server, remote, tmp_path, staging_dir=str(staging))
        publish(sink, "1")
        assert [p.name for p in remote.iterdir()] == ["users.csv"]
        assert list(staging.iterdir()) == []


class TestSftpConfiguration:
    """SFTP options are checked without a server."""

    def test_missing_paramiko_says_which_extra_to_install(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setitem(sys.modules, "paramiko", None)
        with pytest.raises(ConfigurationError, match=r"lucca-sync\[sftp\]"):
            ElevoSink.over_sftp("sftp.example", username="acme", state_dir=tmp_path)

    def test_passphrase_never_shows_in_reprs(self, tmp_path: Path) -> None:
        sink = ElevoSink.over_sftp(
            "sftp.example", username="acme", passphrase="hunter2-secret", state_dir=tmp_path
        )
        assert "hunter2" not in repr(sink)
        assert "sftp.example" in repr(sink)

    def test_missing_known_hosts_file_is_reported(self, tmp_path: Path) -> None:
        delivery = SftpDelivery(host="127.0.0.1", username="acme", known_hosts=tmp_path / "absent")
        with pytest.raises(SinkError, match="known_hosts"):
            delivery.deliver("users.csv", b"uniq_identifier\r\n")


class TestServerRequirement:
    """Without sshd the SFTP tests skip, unless CI demands them (then they fail)."""

    def test_missing_sshd_skips(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(sftp_server, "SSHD", tmp_path / "no-sshd")
        monkeypatch.delenv("LUCCA_SYNC_REQUIRE_SSHD", raising=False)
        with pytest.raises(pytest.skip.Exception):
            sftp_server.require_sshd()

    def test_missing_sshd_fails_when_required(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(sftp_server, "SSHD", tmp_path / "no-sshd")
        monkeypatch.setenv("LUCCA_SYNC_REQUIRE_SSHD", "1")
        with pytest.raises(pytest.fail.Exception, match="LUCCA_SYNC_REQUIRE_SSHD"):
            sftp_server.require_sshd()


@pytest.mark.sftp
class TestSftpMemory:
    """Without a state, a users file on the server is evidence of an earlier publication."""

    def test_a_lost_state_with_a_file_on_the_server_stops_the_run(
        self, server: SftpServer, remote: Path, tmp_path: Path
    ) -> None:
        sink = make_sink(server, remote, tmp_path)
        publish(sink, "1", "2")
        before = (remote / "users.csv").read_bytes()
        shutil.rmtree(tmp_path / "state")
        lost = make_sink(server, remote, tmp_path)
        with pytest.raises(StateRecoveryError, match=r"sftp://.*holds a users file"):
            lost.users()
        assert lost.rebuild_state() == 2  # read back from the server
        assert {user.key for user in lost.users() if user.managed} == {"1", "2"}
        lost.close()
        assert (remote / "users.csv").read_bytes() == before
