"""The real GnuPG program for the encryption tests: a throw-away ``GNUPGHOME``, keys, decryption.

Keys are generated with ``gpg --batch --quick-gen-key`` (no passphrase); ``faked_time`` makes
keys that are already expired without waiting. Tests that need ``gpg`` are skipped when it is
missing, unless ``LUCCA_SYNC_REQUIRE_GPG=1`` (CI installs the ``gnupg`` package and sets it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from types import TracebackType

import pytest

GPG = "gpg"


def require_gpg() -> None:
    """Skip the calling test when ``gpg`` is missing, or fail if CI requires it."""
    if shutil.which(GPG) and shutil.which("gpgconf"):
        return
    if os.environ.get("LUCCA_SYNC_REQUIRE_GPG") == "1":
        pytest.fail("LUCCA_SYNC_REQUIRE_GPG=1 but gpg is not installed (Debian package gnupg)")
    pytest.skip("GnuPG not installed (Debian package gnupg)")


class GnuPG:
    """``with GnuPG(folder) as gpg:`` — a private GnuPG home; its agent is stopped on exit."""

    def __init__(self, folder: Path) -> None:
        require_gpg()
        self.home = folder / "gnupg"
        self.home.mkdir(mode=0o700)
        self._env = {**os.environ, "GNUPGHOME": str(self.home)}

    def __enter__(self) -> GnuPG:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # gpg starts an agent per home; stop exactly this one.
        subprocess.run(
            ["gpgconf", "--kill", "all"], env=self._env, check=False, capture_output=True
        )

    def run(self, *args: str, faked_time: str | None = None, answers: bytes = b"") -> bytes:
        """Run ``gpg --batch`` with ``args`` in this home; return its standard output.

        ``answers`` are fed to gpg's prompts (with ``--command-fd 0`` among ``args``).
        """
        command = [GPG, "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", ""]
        if faked_time is not None:
            command += ["--faked-system-time", faked_time]
        result = subprocess.run(
            [*command, *args],
            env=self._env,
            input=answers,
            capture_output=True,
            check=False,
            timeout=60,
        )
        if result.returncode != 0:
            raise AssertionError(f"gpg {' '.join(args)} failed: {result.stderr.decode()}")
        return result.stdout

    def generate(
        self,
        user_id: str,
        *,
        algorithm: str = "ed25519",
        encryption: str | None = "cv25519",
        expire: str = "1y",
        subkey_expire: str | None = None,
        faked_time: str | None = None,
    ) -> str:
        """A new key pair: a certify-only primary plus an ``encryption`` subkey.

        Args:
            user_id: Its user id (unique in this home).
            algorithm: The primary key's algorithm.
            encryption: The subkey's algorithm; ``None`` makes a signing-only key.
            expire: The primary key's validity (gpg's syntax: ``1y``, ``20d``, ``never``).
            subkey_expire: The subkey's validity; ``None`` means ``expire``.
            faked_time: Make the key as if it were this moment (``20200101T000000``).

        Returns:
            The primary key's fingerprint.
        """
        usage = "cert" if encryption is not None else "sign"
        self.run("--quick-gen-key", user_id, algorithm, usage, expire, faked_time=faked_time)
        fingerprint = self.fingerprint(user_id)
        if encryption is not None:
            self.run(
                "--quick-add-key",
                fingerprint,
                encryption,
                "encr",
                subkey_expire or expire,
                faked_time=faked_time,
            )
        return fingerprint

    def fingerprint(self, user_id: str) -> str:
        """The fingerprint of the (first) key with ``user_id``."""
        listing = self.run("--with-colons", "--list-keys", user_id).decode()
        return next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr"))

    def revoke(self, fingerprint: str) -> None:
        """Revoke the key with the revocation certificate gpg made when generating it."""
        certificate = self.home / "openpgp-revocs.d" / f"{fingerprint}.rev"
        text = certificate.read_text(encoding="utf-8")
        # gpg prefixes the armour line with ':' so that the file cannot be imported by mistake.
        revocation = self.home / "revoke.asc"
        revocation.write_text(text.replace(":-----BEGIN", "-----BEGIN"), encoding="utf-8")
        self.run("--import", str(revocation))

    def revoke_subkey(self, fingerprint: str) -> None:
        """Revoke the first subkey of the key ``fingerprint`` (gpg has no quick command)."""
        # key 1, revkey, "really?" yes, reason 0, no description, "okay?" yes, save.
        answers = b"key 1\nrevkey\ny\n0\n\ny\nsave\n"
        self.run("--command-fd", "0", "--edit-key", fingerprint, answers=answers)

    def export(self, fingerprint: str, path: Path) -> Path:
        """Write the public key, ASCII-armoured, to ``path``."""
        path.write_bytes(self.run("--armor", "--export", fingerprint))
        return path

    def export_secret(self, fingerprint: str, path: Path) -> Path:
        """Write the private key, ASCII-armoured, to ``path``."""
        path.write_bytes(self.run("--armor", "--export-secret-keys", fingerprint))
        return path

    def decrypt(self, path: Path) -> bytes:
        """``gpg --decrypt`` the file at ``path`` with the keys of this home."""
        return self.run("--decrypt", str(path))
