"""Where the users file goes: a local folder, or Elevo's SFTP server.

Both deliveries publish atomically: the file is written under a hidden temporary name
(``.users.csv.<hex>.lucca-sync-tmp``) and renamed to its final name only once complete, so a
reader of the folder never sees half a file under the final name. Temporary files that a crashed
run left behind are removed before the next upload.
"""

from __future__ import annotations

import contextlib
import logging
import stat
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, NoReturn, Protocol, runtime_checkable

import attrs

from lucca_sync.elevo._atomic import (
    is_temp_of,
    probe_folder,
    remove_stale_temps,
    temp_name,
    write_atomic,
)
from lucca_sync.exceptions import ConfigurationError, SinkError

if TYPE_CHECKING:
    import paramiko

__all__ = ["Delivery", "DirectoryDelivery", "ReadableDelivery", "SftpDelivery"]

_log = logging.getLogger("lucca_sync.elevo")
_CHUNK = 32 * 1024


class Delivery(Protocol):
    """Puts the rendered users file where Elevo picks it up."""

    def deliver(self, filename: str, data: bytes) -> None:
        """Publish ``data`` as ``filename``, atomically.

        Raises:
            UncertainDeliveryError: The transfer broke where the file may have been published
                anyway (the sink then delivers again at its next commit, whatever it holds).
            SinkError: Nothing was published (the previous file, if any, is untouched).
        """


@runtime_checkable
class ReadableDelivery(Delivery, Protocol):
    """A delivery that can also say where the file goes and read back the file published there.

    The sink uses it to notice an earlier publication when its state is missing, and to rebuild
    a lost state from the published file. Both built-in deliveries are readable.
    """

    def location(self, filename: str) -> str:
        """Where ``filename`` is published, as text (a path, an ``sftp://`` URL)."""

    def read_published(self, filename: str) -> bytes | None:
        """The file published as ``filename``, or ``None`` when there is none.

        Raises:
            SinkError: The place cannot be read (nothing can be concluded).
        """


@attrs.frozen
class DirectoryDelivery:
    """Writes the file into a local folder (a mounted share, a folder another tool uploads).

    Args:
        path: The drop folder; it must exist.
    """

    path: Path = attrs.field(converter=Path)

    def deliver(self, filename: str, data: bytes) -> None:
        """Write ``path/filename`` atomically (temporary file, fsync, rename, fsync folder).

        Raises:
            SinkError: The folder is missing or unwritable, or the disk is full; nothing changed.
        """
        target = self.path / filename
        if not self.path.is_dir():
            raise SinkError(
                f"the Elevo drop folder {self.path} does not exist or is not a folder; "
                "create it or fix the path"
            )
        remove_stale_temps(self.path, filename)
        try:
            write_atomic(target, data)
        except OSError as exc:
            raise SinkError(
                f"could not write {target} ({exc.strerror or exc.__class__.__name__}); check "
                "that the folder is writable and has free space. The previous file is untouched"
            ) from exc
        _log.info("delivered %s (%d bytes)", target, len(data))

    def probe(self, filename: str) -> None:
        """Check that :meth:`deliver` can write ``filename`` here, publishing nothing.

        A temporary file is written in the folder and removed.

        Raises:
            SinkError: The folder is missing, not a folder, or refuses a new file.
        """
        reason = probe_folder(self.path, filename)
        if reason == "does not exist":
            raise SinkError(
                f"the Elevo drop folder {self.path} does not exist; create it or fix the path"
            )
        if reason is not None:
            raise SinkError(
                f"the Elevo drop folder {self.path} does not accept a new file ({reason}); "
                "give this user write access to it or fix the path"
            )

    def location(self, filename: str) -> str:
        """The absolute path of the published file."""
        return str((self.path / filename).absolute())

    def read_published(self, filename: str) -> bytes | None:
        """The bytes of ``path/filename``, ``None`` when it does not exist.

        Raises:
            SinkError: The file exists but cannot be read.
        """
        target = self.path / filename
        try:
            return target.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SinkError(f"cannot read {target} ({exc.strerror})") from exc


class UncertainDeliveryError(SinkError):
    """The delivery failed at a point where the file may nevertheless have been published."""


def require_paramiko() -> None:
    """Fail early and clearly when the optional ``sftp`` extra is not installed.

    Raises:
        ConfigurationError: paramiko cannot be imported.
    """
    try:
        import paramiko  # noqa: F401
    except ImportError as exc:
        raise ConfigurationError(
            "SFTP delivery needs paramiko, which is not installed: pip install 'lucca-sync[sftp]'"
        ) from exc


class _UnknownHostKeyError(Exception):
    pass


@attrs.frozen(kw_only=True)
class SftpDelivery:
    """Uploads the file to Elevo's SFTP server (``/uploads/users`` by default).

    The server's host key must already be in ``known_hosts``: an unknown or changed key is
    refused, never added silently. Each delivery opens its own connection and closes it.

    Args:
        host: The SFTP host Elevo support gave you.
        port: Its port.
        username: The SFTP login Elevo support gave you.
        private_key_path: The private key whose public half was sent to Elevo; ``None`` uses
            the keys of a running SSH agent.
        passphrase: The private key's passphrase, if it has one (never shown in a repr).
        known_hosts: An OpenSSH ``known_hosts`` file holding the server's host key; ``None``
            means ``~/.ssh/known_hosts``.
        remote_dir: The folder Elevo reads users files from.
        staging_dir: Where the temporary file is written before the rename; ``None`` means
            ``remote_dir`` itself (always renameable). Use a folder Elevo does not read when
            the server allows one.
        timeout: Seconds to wait for the connection, the login and each SFTP reply.
    """

    host: str
    username: str
    port: int = 22
    private_key_path: Path | None = attrs.field(
        default=None, converter=attrs.converters.optional(Path)
    )
    passphrase: str | None = attrs.field(default=None, repr=False)
    known_hosts: Path | None = attrs.field(default=None, converter=attrs.converters.optional(Path))
    remote_dir: str = "/uploads/users"
    staging_dir: str | None = None
    timeout: float = 30.0

    def _where(self, path: str = "") -> str:
        return f"sftp://{self.username}@{self.host}:{self.port}{path}"

    def deliver(self, filename: str, data: bytes) -> None:
        """Upload under a temporary name, then rename to ``remote_dir/filename``.

        Raises:
            SinkError: Connection refused or dropped, unknown or changed host key, login
                refused, or an SFTP failure. The temporary file is removed when the connection
                still allows it (else by the next delivery); the final file is untouched.
            ConfigurationError: paramiko is not installed.
        """
        client = self._open()
        try:
            self._upload(client, filename, data)
        finally:
            client.close()
        _log.info("delivered %s (%d bytes)", self._where(self._final(filename)), len(data))

    def probe(self, filename: str) -> None:
        """Check that :meth:`deliver` would work, publishing nothing.

        Connects (the host key must be in ``known_hosts``), logs in, and in the staging folder
        writes a temporary file, renames it into ``remote_dir`` (as a delivery publishes) and
        removes it. Temporary names are those a delivery cleans up, should one be left.

        Raises:
            SinkError: One line saying what failed and what to fix.
            ConfigurationError: paramiko is not installed.
        """
        import paramiko

        client = self._open()
        try:
            sftp = client.open_sftp()
            channel = sftp.get_channel()
            if channel is not None:
                channel.settimeout(self.timeout)
            staging = self.staging_dir or self.remote_dir
            for folder in dict.fromkeys([self.remote_dir, staging]):
                self._probe_folder(sftp, folder)
            temp = str(PurePosixPath(staging) / temp_name(filename))
            moved = str(PurePosixPath(self.remote_dir) / temp_name(filename))
            try:
                with sftp.open(temp, "wb") as remote:
                    remote.write(b"lucca-sync check\n")
                sftp.rename(temp, moved)
                sftp.remove(moved)
            except OSError as exc:
                for leftover in (temp, moved):
                    with contextlib.suppress(OSError):
                        sftp.remove(leftover)
                reason = exc.strerror or str(exc) or "refused"
                raise SinkError(
                    f"{self._where(staging)} does not accept a new file ({reason}); ask Elevo "
                    "for write access, or fix remote_dir / staging_dir"
                ) from exc
        except (paramiko.SSHException, EOFError) as exc:
            raise SinkError(
                f"the SSH connection to {self._where()} dropped while checking the remote "
                "folder; check the network and run again"
            ) from exc
        finally:
            client.close()

    def _probe_folder(self, sftp: paramiko.SFTPClient, folder: str) -> None:
        try:
            mode = sftp.stat(folder).st_mode
        except OSError as exc:
            raise SinkError(
                f"the remote folder {folder} does not exist on {self._where()} "
                f"({exc.strerror or 'not found'}); fix remote_dir (or staging_dir) with the "
                "path Elevo support gave you"
            ) from exc
        if mode is not None and not stat.S_ISDIR(mode):
            raise SinkError(f"{self._where(folder)} is not a folder; fix remote_dir")

    def _open(self) -> paramiko.SSHClient:
        """A client connected and logged in, the host key checked against ``known_hosts``."""
        require_paramiko()
        import paramiko

        known_hosts = self.known_hosts or Path("~/.ssh/known_hosts").expanduser()
        client = paramiko.SSHClient()
        try:
            client.load_host_keys(str(known_hosts))
        except OSError as exc:
            raise SinkError(
                f"cannot read the known_hosts file {known_hosts} ({exc.strerror}); add the "
                f"host key of {self.host} to it after checking its fingerprint with Elevo"
            ) from exc

        class _Reject(paramiko.RejectPolicy):
            # RejectPolicy, with an error of our own to tell "unknown key" from other failures.
            def missing_host_key(
                self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
            ) -> NoReturn:
                raise _UnknownHostKeyError(hostname)

        client.set_missing_host_key_policy(_Reject())
        try:
            self._connect(client, known_hosts)
        except BaseException:
            client.close()
            raise
        return client

    def _final(self, filename: str) -> str:
        return str(PurePosixPath(self.remote_dir) / filename)

    def location(self, filename: str) -> str:
        """The ``sftp://user@host:port/path`` of the published file."""
        return self._where(self._final(filename))

    def read_published(self, filename: str) -> bytes | None:
        """Download ``remote_dir/filename``; ``None`` when the server has no such file.

        Raises:
            SinkError: The connection or the read failed (see :meth:`deliver`).
        """
        import paramiko

        client = self._open()
        final = self._final(filename)
        try:
            sftp = client.open_sftp()
            try:
                with sftp.open(final, "rb") as remote:
                    return bytes(remote.read())
            except FileNotFoundError:
                return None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__
            raise SinkError(f"cannot read {self._where(final)} ({reason})") from exc
        finally:
            client.close()

    def _connect(self, client: paramiko.SSHClient, known_hosts: Path) -> None:
        import paramiko

        where = self._where()
        try:
            client.connect(
                hostname=self.host,
                port=self.port,
                username=self.username,
                key_filename=None if self.private_key_path is None else str(self.private_key_path),
                passphrase=self.passphrase,
                allow_agent=self.private_key_path is None,
                look_for_keys=False,
                timeout=self.timeout,
                banner_timeout=self.timeout,
                auth_timeout=self.timeout,
                channel_timeout=self.timeout,
            )
        except _UnknownHostKeyError as exc:
            raise SinkError(
                f"the host key of {where} is not in {known_hosts}; nothing was uploaded. Check "
                "the key's fingerprint with Elevo, then add it (ssh-keyscan) to known_hosts"
            ) from exc
        except paramiko.BadHostKeyException as exc:
            raise SinkError(
                f"the host key of {where} differs from the one in {known_hosts}; nothing was "
                "uploaded. Someone may be intercepting the connection: ask Elevo whether their "
                "key changed before updating known_hosts"
            ) from exc
        except paramiko.AuthenticationException as exc:
            raise SinkError(
                f"{where} refused the login of {self.username!r}; check the user name and that "
                "the public key sent to Elevo matches private_key_path (or the SSH agent)"
            ) from exc
        except (paramiko.SSHException, OSError, EOFError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or "no answer"
            raise SinkError(
                f"cannot open an SSH connection to {where} ({reason}); check the host, the "
                "port, the network and that your IP address is whitelisted by Elevo"
            ) from exc

    def _upload(self, client: paramiko.SSHClient, filename: str, data: bytes) -> None:
        import paramiko

        final = self._final(filename)
        staging = self.staging_dir or self.remote_dir
        temp = str(PurePosixPath(staging) / temp_name(filename))
        renaming = False
        try:
            sftp = client.open_sftp()
            channel = sftp.get_channel()
            if channel is not None:
                channel.settimeout(self.timeout)
            for name in sftp.listdir(staging):
                if is_temp_of(name, filename):
                    with contextlib.suppress(OSError):
                        sftp.remove(f"{staging}/{name}")
            try:
                with sftp.open(temp, "wb") as remote:
                    remote.set_pipelined(True)
                    for start in range(0, len(data), _CHUNK):
                        remote.write(data[start : start + _CHUNK])
                size = sftp.stat(temp).st_size
                if size != len(data):
                    raise OSError(f"uploaded {size} bytes of {len(data)}")
                renaming = True
                try:
                    sftp.posix_rename(temp, final)
                except OSError:
                    # Servers without OpenSSH's posix-rename extension cannot replace a file by
                    # renaming over it: remove the old one first (a short gap, never half a file).
                    with contextlib.suppress(OSError):
                        sftp.remove(final)
                    sftp.rename(temp, final)
            except BaseException:
                with contextlib.suppress(Exception):
                    sftp.remove(temp)
                raise
        except (paramiko.SSHException, OSError, EOFError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__
            # A status from the server is an answer (the rename did not happen); a broken
            # connection after the rename was sent is not: it may have happened.
            lost = (paramiko.SSHException, EOFError, ConnectionError, TimeoutError)
            if renaming and isinstance(exc, lost):
                raise UncertainDeliveryError(
                    f"uploading {self._where(final)} failed while renaming ({reason}): the "
                    "server may or may not have published the new file; the next run delivers "
                    "the recorded state again"
                ) from exc
            raise SinkError(
                f"uploading {self._where(final)} failed ({reason}); the previous file is "
                "untouched. Check the remote folder exists and is writable, then run again"
            ) from exc
