"""Encrypting the users file for Elevo's public OpenPGP key (the optional ``gpg`` extra).

Elevo's support hands each SFTP customer its public OpenPGP key. :class:`Encryption` names the
key file (and optionally the fingerprint Elevo confirmed); :meth:`Encryption.load` reads and
checks it into a :class:`RecipientKey`, which encrypts each snapshot in memory: only the
sink's state folder, which never leaves the machine, holds what was published in clear.

The OpenPGP work is done by pysequoia (Sequoia-PGP compiled into a wheel: no ``gpg`` program, no
system library). Its ``encrypt`` falls back to an *expired* encryption subkey when no live one
is left, so the key handed to it is first reduced to the subkeys that can encrypt, are not
revoked and have not expired; the checks on the whole key (revocation, expiry) are made here
as well, so every problem gets a message that says what to do.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from lucca_sync.exceptions import ConfigurationError, SinkError

if TYPE_CHECKING:
    import pysequoia
    from pysequoia.packet import Packet

__all__ = ["EXPIRY_WARNING_DAYS", "Encryption", "RecipientKey"]

_log = logging.getLogger("lucca_sync.elevo")

#: ``lucca-sync check`` and each encrypted delivery warn this many days before the key expires.
EXPIRY_WARNING_DAYS = 30
_HEX = frozenset("0123456789ABCDEF")
_ASK = "ask Elevo support for their current public key"
_EPOCH = datetime.min.replace(tzinfo=UTC)


def _now() -> datetime:
    # One indirection so that tests can move the clock past a key's expiry.
    return datetime.now(UTC)


def _first_line(exc: BaseException) -> str:
    # pysequoia's messages carry a Rust backtrace when RUST_BACKTRACE is set: keep the cause.
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def require_pysequoia() -> None:
    """Fail early and clearly when the optional ``gpg`` extra is not installed.

    Raises:
        ConfigurationError: pysequoia cannot be imported.
    """
    try:
        import pysequoia  # noqa: F401
    except ImportError as exc:
        raise ConfigurationError(
            "encrypting the Elevo file needs pysequoia, which is not installed: "
            "pip install 'lucca-sync[gpg]'"
        ) from exc


def _fingerprint(value: str | None) -> str | None:
    if value is None:
        return None
    compact = "".join(value.split()).replace(":", "").upper()
    if len(compact) not in (40, 64) or not _HEX.issuperset(compact):
        raise ConfigurationError(
            f"fingerprint: expected the 40 (or 64) hexadecimal digits of an OpenPGP "
            f"fingerprint, spaces allowed, got {value!r}"
        )
    return compact


@attrs.frozen
class Encryption:
    """Encrypt the users file for Elevo's public OpenPGP key before it leaves this machine.

    ``pip install 'lucca-sync[gpg]'`` brings the OpenPGP library. The file is encrypted in
    memory: only the encrypted file reaches the drop folder or the SFTP server.

    Args:
        key_file: Elevo's public key as support sent it (ASCII-armoured ``.asc``, or binary).
        fingerprint: The key's fingerprint as Elevo confirmed it (any case, spaces allowed). A
            different key in ``key_file`` is then refused: pin it.
        armor: Deliver ASCII-armoured text (``users.csv.asc``) instead of binary OpenPGP
            (``users.csv.gpg``).

    Raises:
        ConfigurationError: ``fingerprint`` is not a fingerprint.
    """

    key_file: Path = attrs.field(converter=Path)
    fingerprint: str | None = attrs.field(default=None, converter=_fingerprint)
    armor: bool = False

    @property
    def default_filename(self) -> str:
        """``users.csv.gpg``, or ``users.csv.asc`` when armoured."""
        return "users.csv.asc" if self.armor else "users.csv.gpg"

    def load(self) -> RecipientKey:
        """Read ``key_file`` and check that the files can be encrypted for it now.

        Raises:
            ConfigurationError: pysequoia is missing; the file is missing, unreadable, not an
                OpenPGP public key, a private key or several keys; the key is revoked or
                expired, has no usable encryption subkey, or is not the pinned fingerprint.
        """
        require_pysequoia()
        import pysequoia

        path = self.key_file
        packets, cert = _read_key(path)
        found = cert.fingerprint.upper()
        where = f"Elevo's OpenPGP key {found} ({path})"
        if self.fingerprint is not None and found != self.fingerprint:
            raise ConfigurationError(
                f"{path} holds the key {found}, not the pinned fingerprint {self.fingerprint}: "
                "nothing is delivered. Check with Elevo support which key is theirs before "
                "changing the pinned fingerprint"
            )
        if cert.is_revoked:
            raise ConfigurationError(f"{where} is revoked: {_ASK}")
        now = _now()
        if cert.expiration is not None and cert.expiration <= now:
            raise ConfigurationError(
                f"{where} expired on {_day(cert.expiration)}: {_ASK} (or a copy with an "
                "extended date)"
            )
        subkeys = _encryption_keys(packets, now, cert.expiration)
        usable = [key for key in subkeys if key.usable]
        if not usable:
            raise ConfigurationError(f"{where} {_no_subkey(subkeys)}: {_ASK}")
        keep = _without(packets, {key.fingerprint for key in subkeys if not key.usable})
        try:
            reduced = pysequoia.Cert.from_packets(keep)
            pysequoia.encrypt(b"", [reduced], armor=False)
        except Exception as exc:
            raise ConfigurationError(
                f"cannot encrypt for {where} ({_first_line(exc)}): {_ASK}"
            ) from exc
        ends = [key.expires for key in usable]
        expires = None if None in ends else max(end for end in ends if end is not None)
        if cert.expiration is not None:
            expires = cert.expiration if expires is None else min(expires, cert.expiration)
        return RecipientKey(
            fingerprint=found,
            user_ids=tuple(str(user_id) for user_id in cert.user_ids),
            expires=expires,
            subkeys=tuple(sorted(key.fingerprint for key in usable)),
            path=path,
            cert=reduced,
        )


def _read_key(path: Path) -> tuple[list[Packet], pysequoia.Cert]:
    """The packets and the certificate of the one public key in ``path``.

    Raises:
        ConfigurationError: The file is missing or unreadable, not an OpenPGP public key, a
            private key, or several keys.
    """
    import pysequoia
    from pysequoia.packet import PacketPile, Tag

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(
            f"Elevo's OpenPGP key file {path} does not exist: {_ASK} (an .asc file) and "
            "give its path"
        ) from None
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read Elevo's OpenPGP key file {path} ({exc.strerror or exc})"
        ) from exc
    try:
        packets = list(PacketPile.from_bytes(data))
    except Exception as exc:  # the native library raises plain RuntimeErrors
        raise ConfigurationError(
            f"{path} is not an OpenPGP key ({_first_line(exc)}): {_ASK} (an .asc file)"
        ) from exc
    tags = [packet.tag for packet in packets]
    if Tag.SecretKey in tags or Tag.SecretSubkey in tags:
        raise ConfigurationError(
            f"{path} holds a private OpenPGP key: encrypting for Elevo needs only their "
            "public key. Give the public key, and keep private keys off this machine"
        )
    if not tags or tags[0] != Tag.PublicKey:
        raise ConfigurationError(
            f"{path} is not an OpenPGP public key: {_ASK} (an .asc file starting with "
            "'-----BEGIN PGP PUBLIC KEY BLOCK-----')"
        )
    try:
        # Also counts keys in further armoured blocks, which the packet pile stops before.
        certs = pysequoia.Cert.split_bytes(data)
    except Exception as exc:
        raise ConfigurationError(
            f"{path} is not a valid OpenPGP key ({_first_line(exc)}): {_ASK}"
        ) from exc
    if len(certs) != 1:
        raise ConfigurationError(
            f"{path} holds {len(certs)} OpenPGP keys: keep only Elevo's "
            "(gpg --armor --export FINGERPRINT > elevo.asc)"
        )
    return packets, certs[0]


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


@attrs.frozen
class _Subkey:
    fingerprint: str
    revoked: bool
    expires: datetime | None
    usable: bool


def _encryption_keys(
    packets: Sequence[Packet], now: datetime, primary_expires: datetime | None
) -> list[_Subkey]:
    """The keys that may encrypt, each as its newest self-signature describes it.

    Usually subkeys; an old-style primary key flagged for encryption counts too. Signatures are
    read as they stand here; pysequoia verifies them when it encrypts.
    """
    from pysequoia.packet import SignatureType, Tag

    # A list, not a set: pysequoia's enum members are not hashable.
    primary_kinds = [
        SignatureType.DirectKey,
        SignatureType.PositiveCertification,
        SignatureType.GenericCertification,
        SignatureType.CasualCertification,
        SignatureType.PersonaCertification,
    ]
    groups: list[tuple[Packet, list[Packet]]] = []
    for packet in packets:
        if packet.tag in (Tag.PublicKey, Tag.PublicSubkey):
            groups.append((packet, []))
        elif groups and packet.tag == Tag.Signature:
            groups[-1][1].append(packet)
    found: list[_Subkey] = []
    for key, signatures in groups:
        fingerprint = (key.fingerprint or "").upper()
        primary = key.tag == Tag.PublicKey
        kinds = primary_kinds if primary else [SignatureType.SubkeyBinding]
        own = [
            s
            for s in signatures
            if s.signature_type in kinds
            and (not primary or (s.issuer_fingerprint or fingerprint).upper() == fingerprint)
        ]
        if not own:
            continue
        newest = max(own, key=lambda s: s.signature_created or _EPOCH)
        flags = newest.key_flags
        if flags is None or not (flags.transport_encryption or flags.storage_encryption):
            continue
        if primary:
            found.append(_Subkey(fingerprint, False, primary_expires, True))
            continue
        revoked = any(s.signature_type == SignatureType.SubkeyRevocation for s in signatures)
        period, created = newest.key_validity_period, key.key_created
        expires = None if period is None or created is None else created + period
        alive = expires is None or expires > now
        found.append(_Subkey(fingerprint, revoked, expires, alive and not revoked))
    return found


def _no_subkey(subkeys: Sequence[_Subkey]) -> str:
    if not subkeys:
        return "has no encryption subkey (it can only sign or certify)"
    if all(key.revoked for key in subkeys):
        return "has only revoked encryption subkeys"
    ends = [key.expires for key in subkeys if key.expires is not None]
    return f"has no live encryption subkey (the last expired on {_day(max(ends))})"


def _without(packets: Sequence[Packet], dropped: set[str]) -> list[Packet]:
    """``packets`` without the subkeys in ``dropped`` and their signatures."""
    from pysequoia.packet import Tag

    kept: list[Packet] = []
    skipping = False
    for packet in packets:
        if packet.tag in (Tag.PublicKey, Tag.PublicSubkey, Tag.UserID, Tag.UserAttribute):
            skipping = (packet.fingerprint or "").upper() in dropped
        if not skipping:
            kept.append(packet)
    return kept


@attrs.frozen
class RecipientKey:
    """Elevo's public key, loaded and checked (see :meth:`Encryption.load`).

    Attributes:
        fingerprint: The primary key's fingerprint, upper-case hexadecimal.
        user_ids: Its user ids (``"Elevo <...>"``), revoked ones left out.
        expires: When files can no longer be encrypted for it (the key's expiry, or its last
            encryption subkey's); ``None`` if never.
        subkeys: Fingerprints of the encryption subkeys files are encrypted for.
        path: The key file it was read from.
    """

    fingerprint: str
    user_ids: tuple[str, ...]
    expires: datetime | None
    subkeys: tuple[str, ...]
    path: Path
    _cert: pysequoia.Cert = attrs.field(repr=False, eq=False, alias="cert")

    @property
    def identity(self) -> str:
        """What the sink's state records: a new key or encryption subkey makes it differ."""
        return f"openpgp:{self.fingerprint}:{','.join(self.subkeys)}"

    def expires_within(self, days: int = EXPIRY_WARNING_DAYS) -> bool:
        """Whether the key expires within ``days`` days from now."""
        return self.expires is not None and self.expires - _now() <= timedelta(days=days)

    def describe(self) -> str:
        """One line for people: fingerprint, first user id, expiry."""
        who = self.user_ids[0] if self.user_ids else "no user id"
        until = "never expires" if self.expires is None else f"expires {_day(self.expires)}"
        return f"OpenPGP key {self.fingerprint} ({who}), {until}"

    def encrypt(self, data: bytes, *, armor: bool = False) -> bytes:
        """``data`` encrypted for this key (binary OpenPGP, or ASCII-armoured).

        Raises:
            SinkError: The key has expired since it was loaded, or encrypting failed. Nothing
                is returned in clear: the caller delivers nothing.
        """
        if self.expires is not None and self.expires <= _now():
            raise SinkError(
                f"Elevo's OpenPGP key {self.fingerprint} expired on {_day(self.expires)}; "
                f"nothing was delivered: {_ASK} and update {self.path}"
            )
        if self.expires_within(EXPIRY_WARNING_DAYS):
            _log.warning(
                "Elevo's OpenPGP key %s expires on %s: ask Elevo support for the renewed key "
                "and replace %s before then",
                self.fingerprint,
                _day(self.expires or _now()),
                self.path,
            )
        require_pysequoia()
        import pysequoia

        try:
            return bytes(pysequoia.encrypt(data, [self._cert], armor=armor))
        except Exception as exc:
            raise SinkError(
                f"encrypting the users file for Elevo's OpenPGP key {self.fingerprint} failed "
                f"({_first_line(exc)}); nothing was delivered"
            ) from exc
