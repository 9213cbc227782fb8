"""ElevoSink encryption for Elevo's OpenPGP key: GnuPG interoperability, key checks, state."""

from __future__ import annotations

import getpass
import itertools
import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paramiko
import pysequoia
import pytest

import lucca_sync
from gnupg import GnuPG
from lucca_sync.elevo import DirectoryDelivery, ElevoSink, Encryption, _encryption
from lucca_sync.exceptions import ConfigurationError, SinkError
from lucca_sync.testing import FakeLucca, check_sink, generate_company
from sftp_server import SftpServer

COMPANY = generate_company(30, seed=21)
#: Text that is in the clear file and cannot appear in an encrypted one.
MARKER = b"@acme.example"


def person(key: str) -> dict[str, str | None]:
    return {
        "uniq_identifier": key,
        "first_name": "Zoé",
        "last_name": f"Last{key}",
        "email": f"user{key}@acme.example",
    }


def publish(sink: ElevoSink, *keys: str) -> dict[str, str]:
    sink.begin()
    for key in keys:
        sink.create(key, person(key))
    return dict(sink.commit())


def sync(sink: ElevoSink) -> None:
    """A first publication to a new account: reviewed, then approved by its digest."""
    with FakeLucca(COMPANY) as fake:
        directory = lucca_sync.LuccaDirectory(fake.url, lucca_sync.ApiKey(fake.api_key))
        made = lucca_sync.plan(directory, sink, safety=lucca_sync.Safety.review_only())
        assert [violation.limit for violation in made.violations] == ["first_publication"]
        lucca_sync.apply(made, sink, expected_digest=made.digest)


class Recording:
    """A delivery that keeps what it is given, then passes it on (or fails if told to)."""

    def __init__(self, inner: DirectoryDelivery) -> None:
        self.inner = inner
        self.delivered: list[tuple[str, bytes]] = []

    def deliver(self, filename: str, data: bytes) -> None:
        self.delivered.append((filename, data))
        self.inner.deliver(filename, data)


@pytest.fixture
def clear_csv(tmp_path: Path) -> bytes:
    """The file a sync of ``COMPANY`` publishes without encryption."""
    drop = tmp_path / "clear-drop"
    drop.mkdir()
    sync(ElevoSink.to_directory(drop, state_dir=tmp_path / "clear-state"))
    data = (drop / "users.csv").read_bytes()
    assert MARKER in data
    return data


# --- keys made with pysequoia (no gpg needed) ---------------------------------------------------


def sequoia_key(folder: Path, name: str, *, days: int | None = None) -> tuple[Path, pysequoia.Tsk]:
    secret = pysequoia.Tsk.generate(
        f"{name} <{name.lower()}@elevo.example>",
        validity_seconds=None if days is None else days * 86400,
    )
    path = folder / f"{name}.asc"
    path.write_text(str(secret.extract_certificate()), encoding="utf-8")
    return path, secret


def decrypt(secret: pysequoia.Tsk, data: bytes) -> bytes:
    clear = pysequoia.decrypt(data, secret.decryptor()).bytes
    assert clear is not None
    return clear


# --- the real GnuPG -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def elevo_key(gpg: GnuPG, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """An RSA-4096 key pair like Elevo's; its public half exported, armoured, to a file."""
    fingerprint = gpg.generate(
        "Elevo SFTP <sftp@elevo.example>", algorithm="rsa4096", encryption="rsa4096"
    )
    return fingerprint, gpg.export(fingerprint, tmp_path_factory.mktemp("key") / "elevo.asc")


@pytest.mark.gpg
class TestGnuPGInteroperability:
    """GnuPG decrypts what the sink delivers back to exactly the file it would publish in clear."""

    def test_folder_delivery_decrypts_to_the_clear_csv(
        self,
        gpg: GnuPG,
        elevo_key: tuple[str, Path],
        drop: Path,
        tmp_path: Path,
        clear_csv: bytes,
    ) -> None:
        fingerprint, key_file = elevo_key
        delivery = Recording(DirectoryDelivery(drop))
        sink = ElevoSink(
            delivery,
            state_dir=tmp_path / "state",
            encryption=Encryption(key_file, fingerprint=fingerprint),
        )
        sync(sink)
        assert sorted(p.name for p in drop.iterdir()) == ["users.csv.gpg"]
        assert gpg.decrypt(drop / "users.csv.gpg") == clear_csv
        # Everything handed to the delivery was already encrypted: no clear temporary file.
        assert [name for name, _ in delivery.delivered] == ["users.csv.gpg"]
        assert all(MARKER not in data for _, data in delivery.delivered)

    def test_armoured_delivery_decrypts_to_the_clear_csv(
        self,
        gpg: GnuPG,
        elevo_key: tuple[str, Path],
        drop: Path,
        tmp_path: Path,
        clear_csv: bytes,
    ) -> None:
        _, key_file = elevo_key
        sink = ElevoSink.to_directory(
            drop, state_dir=tmp_path / "state", encryption=Encryption(key_file, armor=True)
        )
        sync(sink)
        delivered = drop / "users.csv.asc"
        assert delivered.read_bytes().startswith(b"-----BEGIN PGP MESSAGE-----")
        assert gpg.decrypt(delivered) == clear_csv

    @pytest.mark.sftp
    def test_sftp_delivery_decrypts_to_the_clear_csv(
        self,
        gpg: GnuPG,
        elevo_key: tuple[str, Path],
        tmp_path: Path,
        clear_csv: bytes,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        fingerprint, key_file = elevo_key
        remote = tmp_path / "uploads" / "users"
        remote.mkdir(parents=True)
        sent: list[bytes] = []
        write = paramiko.SFTPFile.write

        def recording_write(self: paramiko.SFTPFile, data: bytes) -> None:
            sent.append(bytes(data))
            write(self, data)

        monkeypatch.setattr(paramiko.SFTPFile, "write", recording_write)
        with SftpServer(tmp_path) as server:
            sink = ElevoSink.over_sftp(
                "127.0.0.1",
                port=server.port,
                username=getpass.getuser(),
                private_key_path=server.client_key,
                known_hosts=server.known_hosts,
                remote_dir=str(remote),
                state_dir=tmp_path / "state",
                timeout=5.0,
                encryption=Encryption(key_file, fingerprint=fingerprint),
            )
            sync(sink)
        assert sorted(p.name for p in remote.iterdir()) == ["users.csv.gpg"]
        assert gpg.decrypt(remote / "users.csv.gpg") == clear_csv
        assert sent
        assert all(MARKER not in chunk for chunk in sent)


@pytest.mark.gpg
class TestKeyProblems:
    """A key that cannot be used stops the sink from being built, with a message saying why."""

    def build(self, tmp_path: Path, key_file: Path, fingerprint: str | None = None) -> ElevoSink:
        drop = tmp_path / "drop"
        drop.mkdir(exist_ok=True)
        encryption = Encryption(key_file, fingerprint=fingerprint)
        return ElevoSink.to_directory(drop, state_dir=tmp_path / "state", encryption=encryption)

    def test_missing_key_file(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigurationError, match=r"elevo\.asc does not exist"):
            self.build(tmp_path, tmp_path / "elevo.asc")

    def test_file_that_is_not_a_key(self, tmp_path: Path) -> None:
        path = tmp_path / "elevo.asc"
        path.write_text("uniq_identifier,email\n1,a@acme.example\n", encoding="utf-8")
        with pytest.raises(ConfigurationError, match="is not an OpenPGP key"):
            self.build(tmp_path, path)

    def test_private_key_is_refused(self, gpg: GnuPG, tmp_path: Path) -> None:
        fingerprint = gpg.generate("Private <private@elevo.example>")
        path = gpg.export_secret(fingerprint, tmp_path / "elevo.asc")
        with pytest.raises(ConfigurationError, match="holds a private OpenPGP key"):
            self.build(tmp_path, path)

    def test_file_with_two_keys_is_refused(self, gpg: GnuPG, tmp_path: Path) -> None:
        first = gpg.export(gpg.generate("One <one@elevo.example>"), tmp_path / "one.asc")
        second = gpg.export(gpg.generate("Two <two@elevo.example>"), tmp_path / "two.asc")
        both = tmp_path / "elevo.asc"
        both.write_bytes(first.read_bytes() + second.read_bytes())
        with pytest.raises(ConfigurationError, match="holds 2 OpenPGP keys"):
            self.build(tmp_path, both)

    def test_expired_key(self, gpg: GnuPG, tmp_path: Path) -> None:
        fingerprint = gpg.generate(
            "Expired <expired@elevo.example>", expire="1y", faked_time="20200101T000000"
        )
        path = gpg.export(fingerprint, tmp_path / "elevo.asc")
        with pytest.raises(ConfigurationError, match=f"{fingerprint}.*expired on 2020-12-31"):
            self.build(tmp_path, path)

    def test_revoked_key(self, gpg: GnuPG, tmp_path: Path) -> None:
        fingerprint = gpg.generate("Revoked <revoked@elevo.example>")
        gpg.revoke(fingerprint)
        path = gpg.export(fingerprint, tmp_path / "elevo.asc")
        with pytest.raises(ConfigurationError, match=f"{fingerprint}.*is revoked"):
            self.build(tmp_path, path)

    def test_signing_only_key(self, gpg: GnuPG, tmp_path: Path) -> None:
        fingerprint = gpg.generate("Signer <signer@elevo.example>", encryption=None)
        path = gpg.export(fingerprint, tmp_path / "elevo.asc")
        with pytest.raises(ConfigurationError, match="has no encryption subkey"):
            self.build(tmp_path, path)

    def test_key_whose_encryption_subkey_expired(self, gpg: GnuPG, tmp_path: Path) -> None:
        # pysequoia alone would still encrypt for the expired subkey: the sink must not.
        fingerprint = gpg.generate(
            "Old subkey <old-subkey@elevo.example>",
            expire="never",
            subkey_expire="1d",
            faked_time="20200101T000000",
        )
        path = gpg.export(fingerprint, tmp_path / "elevo.asc")
        with pytest.raises(ConfigurationError, match=r"no live encryption subkey.*2020-01-02"):
            self.build(tmp_path, path)

    def test_key_whose_encryption_subkey_is_revoked(self, gpg: GnuPG, tmp_path: Path) -> None:
        fingerprint = gpg.generate("Revoked subkey <revoked-subkey@elevo.example>")
        gpg.revoke_subkey(fingerprint)
        path = gpg.export(fingerprint, tmp_path / "elevo.asc")
        with pytest.raises(ConfigurationError, match="has only revoked encryption subkeys"):
            self.build(tmp_path, path)

    def test_key_swapped_on_disk_is_refused(self, gpg: GnuPG, tmp_path: Path) -> None:
        pinned = gpg.generate("Pinned <pinned@elevo.example>")
        other = gpg.generate("Other <other@elevo.example>")
        path = gpg.export(other, tmp_path / "elevo.asc")
        with pytest.raises(ConfigurationError, match=f"holds the key {other}, not.*{pinned}"):
            self.build(tmp_path, path, fingerprint=pinned)

    def test_pinned_fingerprint_may_be_written_in_groups(self, gpg: GnuPG, tmp_path: Path) -> None:
        fingerprint = gpg.generate("Grouped <grouped@elevo.example>")
        path = gpg.export(fingerprint, tmp_path / "elevo.asc")
        grouped = " ".join(fingerprint[i : i + 4] for i in range(0, 40, 4)).lower()
        sink = self.build(tmp_path, path, fingerprint=grouped)
        assert sink.encryption_key is not None
        assert sink.encryption_key.fingerprint == fingerprint
        assert sink.encryption_key.user_ids == ("Grouped <grouped@elevo.example>",)


class TestEncryptedDelivery:
    """Only encrypted bytes leave; a failure delivers nothing; the state decides re-delivery."""

    def test_only_the_encrypted_file_is_delivered(self, drop: Path, tmp_path: Path) -> None:
        key_file, secret = sequoia_key(tmp_path, "Elevo")
        delivery = Recording(DirectoryDelivery(drop))
        sink = ElevoSink(delivery, state_dir=tmp_path / "state", encryption=Encryption(key_file))
        assert publish(sink, "1", "2") == {}
        [(name, data)] = delivery.delivered
        assert name == "users.csv.gpg"
        assert MARKER not in data
        assert decrypt(secret, data).startswith(b"uniq_identifier,")
        assert b"user2@acme.example" in decrypt(secret, data)

    def test_an_unchanged_snapshot_is_not_delivered_again(self, drop: Path, tmp_path: Path) -> None:
        key_file, _ = sequoia_key(tmp_path, "Elevo")
        delivery = Recording(DirectoryDelivery(drop))
        for _ in range(2):
            sink = ElevoSink(
                delivery, state_dir=tmp_path / "state", encryption=Encryption(key_file)
            )
            publish(sink, "1")
        assert len(delivery.delivered) == 1

    def test_a_new_key_alone_delivers_again(self, drop: Path, tmp_path: Path) -> None:
        old_file, _ = sequoia_key(tmp_path, "Old")
        new_file, new_secret = sequoia_key(tmp_path, "New")
        delivery = Recording(DirectoryDelivery(drop))
        state = tmp_path / "state"
        publish(ElevoSink(delivery, state_dir=state, encryption=Encryption(old_file)), "1")
        publish(ElevoSink(delivery, state_dir=state, encryption=Encryption(new_file)), "1")
        assert len(delivery.delivered) == 2
        assert b"user1@acme.example" in decrypt(new_secret, delivery.delivered[-1][1])
        publish(ElevoSink(delivery, state_dir=state, encryption=Encryption(new_file)), "1")
        assert len(delivery.delivered) == 2

    def test_turning_encryption_on_delivers_again(self, drop: Path, tmp_path: Path) -> None:
        key_file, _ = sequoia_key(tmp_path, "Elevo")
        delivery = Recording(DirectoryDelivery(drop))
        state = tmp_path / "state"
        publish(ElevoSink(delivery, state_dir=state), "1")
        publish(ElevoSink(delivery, state_dir=state, encryption=Encryption(key_file)), "1")
        assert [name for name, _ in delivery.delivered] == ["users.csv", "users.csv.gpg"]

    def test_a_new_sink_with_nothing_published_delivers_no_empty_file(
        self, drop: Path, tmp_path: Path
    ) -> None:
        key_file, _ = sequoia_key(tmp_path, "Elevo")
        delivery = Recording(DirectoryDelivery(drop))
        sink = ElevoSink(delivery, state_dir=tmp_path / "state", encryption=Encryption(key_file))
        publish(sink)
        assert delivery.delivered == []

    def test_key_expired_since_the_sink_was_built_delivers_nothing(
        self, drop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        key_file, _ = sequoia_key(tmp_path, "Elevo", days=10)
        delivery = Recording(DirectoryDelivery(drop))
        sink = ElevoSink(delivery, state_dir=tmp_path / "state", encryption=Encryption(key_file))
        later = datetime.now(UTC) + timedelta(days=11)
        monkeypatch.setattr(_encryption, "_now", lambda: later)
        with pytest.raises(SinkError, match=r"expired on .*nothing was delivered"):
            publish(sink, "1")
        assert delivery.delivered == []
        assert list(drop.iterdir()) == []
        assert list(sink.users()) == []
        assert not (tmp_path / "state" / "elevo-state.pending.json").exists()

    def test_failing_encryption_never_falls_back_to_clear_text(
        self, drop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        key_file, _ = sequoia_key(tmp_path, "Elevo")
        delivery = Recording(DirectoryDelivery(drop))
        state = tmp_path / "state"
        publish(ElevoSink(delivery, state_dir=state, encryption=Encryption(key_file)), "1")
        sink = ElevoSink(delivery, state_dir=state, encryption=Encryption(key_file))

        def broken(*args: object, **kwargs: object) -> bytes:
            raise RuntimeError("simulated failure\nStack backtrace: ...")

        monkeypatch.setattr(pysequoia, "encrypt", broken)
        with pytest.raises(SinkError, match=r"failed \(simulated failure\); nothing was delivered"):
            publish(sink, "1", "2")
        assert len(delivery.delivered) == 1
        assert sorted(user.key for user in sink.users()) == ["1"]

    def test_expiry_within_30_days_is_logged_at_each_delivery(
        self, drop: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        key_file, _ = sequoia_key(tmp_path, "Elevo", days=20)
        sink = ElevoSink.to_directory(
            drop, state_dir=tmp_path / "state", encryption=Encryption(key_file)
        )
        with caplog.at_level(logging.WARNING, logger="lucca_sync"):
            publish(sink, "1")
        assert any("expires on" in record.getMessage() for record in caplog.records)


class TestEncryptionOptions:
    """The options are checked when the sink is built."""

    def test_an_encrypted_file_named_csv_is_refused(self, drop: Path, tmp_path: Path) -> None:
        key_file, _ = sequoia_key(tmp_path, "Elevo")
        with pytest.raises(ConfigurationError, match=r"users\.csv\.gpg"):
            ElevoSink.to_directory(
                drop,
                state_dir=tmp_path / "s",
                filename="users.csv",
                encryption=Encryption(key_file),
            )

    def test_a_fingerprint_must_be_hexadecimal(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigurationError, match=r"40 .*hexadecimal digits"):
            Encryption(tmp_path / "elevo.asc", fingerprint="not-a-fingerprint")

    def test_missing_library_says_which_extra_to_install(
        self, drop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        key_file, _ = sequoia_key(tmp_path, "Elevo")
        monkeypatch.setitem(sys.modules, "pysequoia", None)
        with pytest.raises(ConfigurationError, match=r"lucca-sync\[gpg\]"):
            ElevoSink.to_directory(drop, state_dir=tmp_path / "s", encryption=Encryption(key_file))

    def test_key_details_are_exposed(self, drop: Path, tmp_path: Path) -> None:
        key_file, secret = sequoia_key(tmp_path, "Elevo", days=100)
        sink = ElevoSink.to_directory(
            drop, state_dir=tmp_path / "s", encryption=Encryption(key_file)
        )
        key = sink.encryption_key
        assert key is not None
        assert key.fingerprint == secret.extract_certificate().fingerprint.upper()
        assert key.user_ids == ("Elevo <elevo@elevo.example>",)
        assert key.expires is not None
        assert timedelta(days=99) < key.expires - datetime.now(UTC) <= timedelta(days=100)
        assert not key.expires_within(30)
        assert key.expires_within(101)
        assert ElevoSink.to_directory(drop, state_dir=tmp_path / "t").encryption_key is None


class TestConformance:
    """An encrypting ElevoSink passes the library's sink conformance suite."""

    def test_an_encrypting_sink_passes_the_conformance_suite(self, tmp_path: Path) -> None:
        key_file, _ = sequoia_key(tmp_path, "Elevo")
        numbers = itertools.count()

        def factory() -> ElevoSink:
            folder = tmp_path / f"drop{next(numbers)}"
            folder.mkdir()
            return ElevoSink.to_directory(folder, encryption=Encryption(key_file))

        result = check_sink(factory, transactional=True)
        assert "plan, apply, re-plan is empty" in result.passed
