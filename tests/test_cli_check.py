"""``lucca-sync check`` proves the whole path, changing nothing: run as a real subprocess, with a
FakeLucca and the real OpenSSH server of the SFTP tests."""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lucca_sync.testing import FakeLucca, generate_company
from sftp_server import SftpServer, keygen

KEY_ENV = "LUCCA_SYNC_TEST_KEY"


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != KEY_ENV}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "lucca_sync", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def fake() -> Iterator[FakeLucca]:
    with FakeLucca(generate_company(20, seed=3)) as server:
        yield server


@pytest.fixture
def key(fake: FakeLucca) -> dict[str, str]:
    return {KEY_ENV: fake.api_key}


def write_config(folder: Path, url: str, sink: str) -> Path:
    path = folder / "lucca-sync.toml"
    path.write_text(
        f'[lucca]\nurl = "{url}"\napi_key_env = "{KEY_ENV}"\n\n[sink]\n{sink}', encoding="utf-8"
    )
    return path


class TestCheckDirectoryTarget:
    """The drop folder and the state folder are proven with a test file, then left as found."""

    def test_working_folders_pass_and_are_left_unchanged(
        self, tmp_path: Path, fake: FakeLucca, key: dict[str, str]
    ) -> None:
        (tmp_path / "drop").mkdir()
        (tmp_path / "state").mkdir()
        config = write_config(
            tmp_path, fake.url, 'type = "directory"\npath = "drop"\nstate_dir = "state"\n'
        )
        before = files_under(tmp_path)
        result = run_cli("check", "--config", str(config), env=key)
        assert result.returncode == 0, result.stderr
        assert "Target: the state folder and the drop folder work" in result.stdout
        assert files_under(tmp_path) == before

    def test_missing_drop_folder_fails_naming_it(
        self, tmp_path: Path, fake: FakeLucca, key: dict[str, str]
    ) -> None:
        config = write_config(
            tmp_path, fake.url, 'type = "directory"\npath = "drop"\nstate_dir = "state"\n'
        )
        result = run_cli("check", "--config", str(config), env=key)
        assert result.returncode == 1
        problems = result.stderr.splitlines()
        assert problems[0] == (
            f"  target: the Elevo drop folder {tmp_path / 'drop'} does not exist; create it or "
            "fix the path"
        )
        assert problems[-1] == "lucca-sync: error: check found 1 problem(s), listed above"
        assert not (tmp_path / "state").exists()  # a check creates nothing

    def test_state_folder_that_cannot_be_created_fails(
        self, tmp_path: Path, fake: FakeLucca, key: dict[str, str]
    ) -> None:
        (tmp_path / "drop").mkdir()
        (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
        config = write_config(
            tmp_path, fake.url, 'type = "directory"\npath = "drop"\nstate_dir = "a-file/state"\n'
        )
        result = run_cli("check", "--config", str(config), env=key)
        assert result.returncode == 1
        assert "the state folder" in result.stderr
        assert "choose another state_dir" in result.stderr

    def test_lucca_and_target_failures_are_all_listed(self, tmp_path: Path) -> None:
        with FakeLucca() as stopped:
            url = stopped.url
        config = write_config(
            tmp_path, url, 'type = "directory"\npath = "drop"\nstate_dir = "state"\n'
        )
        result = run_cli("check", "--config", str(config), env={KEY_ENV: "unused-key-0123"})
        assert result.returncode == 1
        lines = result.stderr.splitlines()
        assert lines[0].startswith("  Lucca: cannot reach 127.0.0.1: connection refused; ")
        assert lines[1].startswith("  target: the Elevo drop folder ")
        assert lines[-1] == "lucca-sync: error: check found 2 problem(s), listed above"


def sftp_sink(server: SftpServer, remote: Path, tmp_path: Path, **changes: str) -> str:
    settings = {
        "host": "127.0.0.1",
        "port": str(server.port),
        "username": getpass.getuser(),
        "private_key_path": str(server.client_key),
        "known_hosts": str(server.known_hosts),
        "remote_dir": str(remote),
        "state_dir": str(tmp_path / "state"),
        "timeout": "5",
        **changes,
    }
    numbers = {"port", "timeout"}
    return 'type = "sftp"\n' + "".join(
        f"{name} = {value}\n" if name in numbers else f'{name} = "{value}"\n'
        for name, value in settings.items()
    )


@pytest.mark.sftp
class TestCheckSftpTarget:
    """Over SFTP: connection, host key, login and a write in the remote folder, each proven."""

    def check(
        self, tmp_path: Path, fake: FakeLucca, key: dict[str, str], sink: str
    ) -> subprocess.CompletedProcess[str]:
        return run_cli("check", "--config", str(write_config(tmp_path, fake.url, sink)), env=key)

    def test_working_server_passes_and_the_remote_folder_is_left_empty(
        self, tmp_path: Path, fake: FakeLucca, key: dict[str, str], server: SftpServer,
        remote: Path,
    ) -> None:  # fmt: skip
        result = self.check(tmp_path, fake, key, sftp_sink(server, remote, tmp_path))
        assert result.returncode == 0, result.stderr
        assert "the SFTP server (host key, login, remote folder) work" in result.stdout
        assert list(remote.iterdir()) == []

    def test_missing_known_hosts(
        self, tmp_path: Path, fake: FakeLucca, key: dict[str, str], server: SftpServer,
        remote: Path,
    ) -> None:  # fmt: skip
        sink = sftp_sink(server, remote, tmp_path, known_hosts=str(tmp_path / "nowhere"))
        result = self.check(tmp_path, fake, key, sink)
        assert result.returncode == 1
        assert f"cannot read the known_hosts file {tmp_path / 'nowhere'}" in result.stderr

    def test_changed_host_key(
        self, tmp_path: Path, fake: FakeLucca, key: dict[str, str], server: SftpServer,
        remote: Path,
    ) -> None:  # fmt: skip
        other = keygen(tmp_path / "other_host_key")
        kind, blob = other.with_suffix(".pub").read_text().split()[:2]
        changed = tmp_path / "known_hosts_changed"
        changed.write_text(f"[127.0.0.1]:{server.port} {kind} {blob}\n")
        result = self.check(
            tmp_path, fake, key, sftp_sink(server, remote, tmp_path, known_hosts=str(changed))
        )
        assert result.returncode == 1
        assert "host key" in result.stderr
        assert "differs from the one in" in result.stderr

    def test_wrong_user(
        self, tmp_path: Path, fake: FakeLucca, key: dict[str, str], server: SftpServer,
        remote: Path,
    ) -> None:  # fmt: skip
        sink = sftp_sink(server, remote, tmp_path, username="nobody-at-elevo")
        result = self.check(tmp_path, fake, key, sink)
        assert result.returncode == 1
        assert "refused the login of 'nobody-at-elevo'; check the user name" in result.stderr
        assert "Exception" not in result.stderr

    def test_wrong_remote_dir(
        self, tmp_path: Path, fake: FakeLucca, key: dict[str, str], server: SftpServer,
        remote: Path,
    ) -> None:  # fmt: skip
        missing = remote.parent / "user"
        result = self.check(
            tmp_path, fake, key, sftp_sink(server, remote, tmp_path, remote_dir=str(missing))
        )
        assert result.returncode == 1
        assert f"the remote folder {missing} does not exist" in result.stderr
        assert "fix remote_dir" in result.stderr

    def test_unwritable_remote_dir(
        self, tmp_path: Path, fake: FakeLucca, key: dict[str, str], server: SftpServer,
        remote: Path,
    ) -> None:  # fmt: skip
        # The server runs as root, which writes anywhere: a file named like the folder stands
        # in for a folder the server refuses to write in.
        blocked = remote / "blocked"
        blocked.write_text("a file")
        result = self.check(
            tmp_path, fake, key, sftp_sink(server, remote, tmp_path, remote_dir=str(blocked))
        )
        assert result.returncode == 1
        assert "is not a folder; fix remote_dir" in result.stderr
