"""A real OpenSSH server for the SFTP tests: ``sshd`` on 127.0.0.1, a free port, temp keys.

The server runs as the current user (root in CI containers), accepts one client key, and serves
SFTP with ``internal-sftp``. Tests that need it are marked ``sftp`` and skipped when
``/usr/sbin/sshd`` is missing, unless ``LUCCA_SYNC_REQUIRE_SSHD=1`` (then they fail).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import pytest

SSHD = Path("/usr/sbin/sshd")
_START_TIMEOUT = 10.0


def require_sshd() -> None:
    """Skip the calling test when sshd is missing, or fail if CI requires it."""
    if SSHD.exists() and shutil.which("ssh-keygen"):
        return
    if os.environ.get("LUCCA_SYNC_REQUIRE_SSHD") == "1":
        pytest.fail("LUCCA_SYNC_REQUIRE_SSHD=1 but /usr/sbin/sshd or ssh-keygen is missing")
    pytest.skip("OpenSSH server not installed (/usr/sbin/sshd)")


def keygen(path: Path) -> Path:
    """Create an ed25519 key pair at ``path`` (and ``path.pub``); return ``path``."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lucca-sync-test", "-f", str(path)],
        check=True,
    )
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (sshd forks one per connection, in new sessions)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


class SftpServer:
    """``with SftpServer(tmp_path) as server:`` — an sshd serving SFTP on ``server.port``.

    Attributes:
        client_key: Private key the server accepts.
        known_hosts: A known_hosts file holding this server's host key for its port.
        host_key_line: That line, to build other known_hosts files.
    """

    def __init__(self, folder: Path) -> None:
        require_sshd()
        self.folder = folder / "sshd"
        self.folder.mkdir(exist_ok=True)
        host_key = self.folder / "host_ed25519"
        if not host_key.exists():
            keygen(host_key)
        self.client_key = self.folder / "client_ed25519"
        if not self.client_key.exists():
            keygen(self.client_key)
        authorized = self.folder / "authorized_keys"
        authorized.write_text(self.client_key.with_suffix(".pub").read_text())
        self.port = _free_port()
        public = host_key.with_suffix(".pub").read_text().split()
        self.host_key_line = f"[127.0.0.1]:{self.port} {public[0]} {public[1]}\n"
        self.known_hosts = self.folder / f"known_hosts_{self.port}"
        self.known_hosts.write_text(self.host_key_line)
        self.config = self.folder / "sshd_config"
        self.config.write_text(
            "\n".join(
                [
                    f"ListenAddress 127.0.0.1:{self.port}",
                    f"HostKey {host_key}",
                    f"PidFile {self.folder / 'sshd.pid'}",
                    f"AuthorizedKeysFile {authorized}",
                    "PermitRootLogin prohibit-password",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "StrictModes no",
                    "UsePAM no",
                    "Subsystem sftp internal-sftp",
                    "LogLevel ERROR",
                    "",
                ]
            )
        )
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SftpServer:
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
        self._process = subprocess.Popen(
            [str(SSHD), "-D", "-e", "-f", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            if self._process.poll() is not None:
                errors = self._process.stderr.read().decode() if self._process.stderr else ""
                raise RuntimeError(f"sshd exited at start: {errors.strip()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1) as probe,
            ):
                if probe.recv(4).startswith(b"SSH-"):
                    return self
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("sshd did not start listening in time")
            time.sleep(0.02)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.kill()

    def drop_connections(self) -> None:
        """Kill the processes serving the open sessions: every client connection drops at once.

        Only the deepest processes are killed, so that their parents (still alive) reap them
        and wind down by themselves instead of leaving zombies behind.
        """
        if self._process is None:
            return
        below = _descendants(self._process.pid)
        leaves = [pid for pid in below if not _descendants(pid)]
        for pid in leaves:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def kill(self) -> None:
        """Drop every connection and stop the server."""
        process = self._process
        if process is None:
            return
        self.drop_connections()
        deadline = time.monotonic() + 2
        while _descendants(process.pid) and time.monotonic() < deadline:
            time.sleep(0.01)  # the sessions' parents reap them and exit
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        if process.stderr:
            process.stderr.close()
        self._process = None
