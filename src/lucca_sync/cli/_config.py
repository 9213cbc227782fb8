"""The ``lucca-sync`` configuration file: TOML, structured into frozen attrs classes.

One cattrs converter turns each table of the file into its section class. Its hooks are strict
(a string is not a number, ``"false"`` is not a boolean) and unknown keys are errors, so that a
typo never silently falls back to a default. Every problem of the file is collected — with the
dotted key path and what was expected — and raised at once as one
:class:`~lucca_sync.exceptions.ConfigurationError`.

Secrets never live in the file: ``[lucca] api_key_env`` names the environment variable that holds
the API key (legacy API), or ``client_id_env`` and ``client_secret_env`` those holding the OAuth
client of the Lucca API. A secret written in the file is refused unless
``allow_secret_in_file = true``.
"""

from __future__ import annotations

import os
import zoneinfo
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

import attrs

from lucca_sync._engine._binding import DEFAULT_PLAN_MAX_AGE
from lucca_sync._engine._incremental import DEFAULT_FULL_EVERY, DEFAULT_FULL_EVERY_DAYS, SyncMode
from lucca_sync._engine._safety import Safety
from lucca_sync._lucca import ApiKey, ClientCredentials, LuccaDirectory
from lucca_sync.elevo import ElevoSink, Encryption
from lucca_sync.exceptions import ConfigurationError
from lucca_sync.mapping import FieldMapping
from lucca_sync.rules import ExclusionRule

__all__ = [
    "Config",
    "DirectorySinkSection",
    "EncryptionSection",
    "LuccaSection",
    "MissingSecretError",
    "RulesSection",
    "SafetySection",
    "SftpSinkSection",
    "SyncSection",
    "credential_from_env",
]

_T = TypeVar("_T")

#: Elevo's documented upload folder for users snapshots.
ELEVO_REMOTE_DIR = "/uploads/users"
#: The API key's environment variable when the file names none.
DEFAULT_API_KEY_ENV = "LUCCA_API_KEY"
#: The Lucca API (OAuth) serves at most this many employees per request.
LUCCA_API_PAGE_SIZE = 100

#: The ``[lucca]`` keys of each kind of credential; a file uses one kind only.
_API_KEY_KEYS = ("api_key_env", "api_key")
_OAUTH_KEYS = (
    "client_id_env",
    "client_secret_env",
    "client_secret",
    "scopes",
    "token_url",
    "custom_fields",
)


class MissingSecretError(ConfigurationError):
    """A credential's environment variable is not set: the file itself may still be valid.

    ``lucca-sync check`` validates the file without contacting Lucca in that case; every other
    command stops with exit code 2.
    """


@attrs.frozen(kw_only=True)
class LuccaSection:
    """``[lucca]``: where Lucca is and how to authenticate.

    Give either ``url`` (any https base URL, sandboxes included) or ``subdomain`` (with
    ``environment`` and ``region``). Credentials, one kind only: the legacy API's key, read from
    the environment variable named by ``api_key_env`` (``LUCCA_API_KEY`` when no kind is
    given), or the Lucca API's OAuth client, read from ``client_id_env`` and
    ``client_secret_env`` (with optional ``scopes``, ``token_url`` and ``custom_fields``).
    """

    url: str | None = None
    subdomain: str | None = None
    environment: Literal["ilucca", "ilucca-test", "ilucca-demo"] = "ilucca"
    region: Literal["net", "ch"] = "net"
    api_key_env: str | None = None
    api_key: str | None = attrs.field(default=None, repr=False)
    client_id_env: str | None = None
    client_secret_env: str | None = None
    client_secret: str | None = attrs.field(default=None, repr=False)
    scopes: tuple[str, ...] | None = None
    token_url: str | None = None
    custom_fields: tuple[str, ...] | None = None
    allow_secret_in_file: bool = False
    timeout: float = 10.0
    retries: int = 5
    page_size: int = 1000
    requests_per_minute: int = 50

    def oauth_options(self) -> dict[str, Any]:
        """The ``ClientCredentials`` options the file sets (the others keep their defaults)."""
        options: dict[str, Any] = {}
        if self.scopes is not None:
            options["scopes"] = self.scopes
        if self.token_url is not None:
            options["token_url"] = self.token_url
        return options

    @property
    def base_url(self) -> str:
        """The tenant URL, from ``url`` or built from ``subdomain``/``environment``/``region``."""
        if self.url is not None:
            return self.url.rstrip("/")
        return f"https://{self.subdomain}.{self.environment}.{self.region}"

    @property
    def uses_oauth(self) -> bool:
        """Whether the file configures the Lucca API's OAuth client (not the legacy API key)."""
        return any(getattr(self, key) is not None for key in _OAUTH_KEYS)

    @property
    def key_env(self) -> str:
        """The environment variable holding the legacy API key."""
        return self.api_key_env or DEFAULT_API_KEY_ENV

    @property
    def employees_per_request(self) -> int:
        """Employees per request: ``page_size``, at most 100 with the Lucca API."""
        return min(self.page_size, LUCCA_API_PAGE_SIZE) if self.uses_oauth else self.page_size


@attrs.frozen(kw_only=True)
class RulesSection:
    """``[rules]``: who is left out of the sync, and what happens to them in the target.

    ``exclude`` is the list of rule tables given to :func:`lucca_sync.rules.rules_from_config`;
    absent means the default rules (the ``e_skip_elevo_sync`` check box), an empty list means
    no rule at all.
    """

    on_excluded: Literal["leave", "suspend"] = "leave"
    exclude: tuple[dict[str, Any], ...] | None = None


@attrs.frozen(kw_only=True)
class EncryptionSection:
    """``[sink.encryption]``: encrypt the file for Elevo's public OpenPGP key (the ``gpg`` extra).

    ``key_file`` is relative to the configuration file; see :class:`lucca_sync.elevo.Encryption`.
    """

    key_file: str
    fingerprint: str | None = None
    armor: bool = False


@attrs.frozen(kw_only=True)
class DirectorySinkSection:
    """``[sink] type = "directory"``: write the Elevo snapshot into a local folder."""

    type: Literal["directory"] = "directory"
    path: str
    state_dir: str | None = None
    filename: str | None = None
    adopt_from: str | None = None
    omit_unidentified: bool = False
    encryption: EncryptionSection | None = None


@attrs.frozen(kw_only=True)
class SftpSinkSection:
    """``[sink] type = "sftp"``: upload the Elevo snapshot to Elevo's SFTP server."""

    type: Literal["sftp"] = "sftp"
    host: str
    port: int = 22
    username: str
    private_key_path: str | None = None
    private_key_passphrase_env: str | None = None
    known_hosts: str | None = None
    remote_dir: str = ELEVO_REMOTE_DIR
    staging_dir: str | None = None
    timeout: float = 30.0
    state_dir: str
    filename: str | None = None
    adopt_from: str | None = None
    omit_unidentified: bool = False
    encryption: EncryptionSection | None = None


@attrs.frozen(kw_only=True)
class SafetySection:
    """``[safety]``: the limits of :class:`lucca_sync.Safety`; absent keys keep its defaults."""

    max_suspensions: int | None = None
    max_suspension_ratio: float | None = None
    min_source_ratio: float | None = None
    max_not_visible: int | None = None
    allow_empty_source: bool | None = None
    max_reactivations: int | None = None
    max_reactivation_ratio: float | None = None
    max_excludes: int | None = None
    max_exclude_ratio: float | None = None
    max_field_changes: int | None = None
    max_field_change_ratio: float | None = None
    window_days: int | None = None
    max_window_suspensions: int | None = None
    max_window_suspension_ratio: float | None = None
    max_window_reactivations: int | None = None
    max_window_reactivation_ratio: float | None = None


@attrs.frozen(kw_only=True)
class SyncSection:
    """``[sync]``: planning options (see :func:`lucca_sync.plan`)."""

    time_zone: str = "Europe/Paris"
    match_by: tuple[str, ...] = ()
    manager_fallback: Literal["nearest_ancestor", "empty"] = "nearest_ancestor"
    mode: SyncMode = "full"
    full_every: int = DEFAULT_FULL_EVERY
    full_every_days: int = DEFAULT_FULL_EVERY_DAYS
    #: How old a plan file may be when ``apply --plan`` applies it (see ``apply(max_age=)``).
    plan_max_age_hours: float = DEFAULT_PLAN_MAX_AGE.total_seconds() / 3600


SinkSection = DirectorySinkSection | SftpSinkSection


@attrs.frozen(kw_only=True)
class Config:
    """A validated configuration file.

    The ``*_section`` attributes and ``lucca``/``sync`` mirror the file; ``rules``, ``mapping``
    and ``safety`` are the library objects built from it (validated when the file was loaded).
    """

    path: Path
    lucca: LuccaSection
    rules_section: RulesSection
    sink_section: SinkSection
    sync: SyncSection
    rules: tuple[ExclusionRule, ...]
    mapping: FieldMapping
    safety: Safety

    def resolve(self, value: str) -> Path:
        """A path of the file, relative to the folder holding the configuration file."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.path.parent / path

    def today(self) -> date:
        """Today in the tenant's time zone (``sync.time_zone``)."""
        return datetime.now(zoneinfo.ZoneInfo(self.sync.time_zone)).date()

    def credential(self, environ: Mapping[str, str]) -> ApiKey | ClientCredentials:
        """The Lucca credential, its secrets read from ``environ``.

        Returns:
            An :class:`~lucca_sync.ApiKey` (legacy API) or :class:`~lucca_sync.ClientCredentials`
            (Lucca API), as the file configures.

        Raises:
            MissingSecretError: An environment variable it names is not set or empty.
            ConfigurationError: A value read from the environment is invalid (never shown).
        """
        section = self.lucca
        if not section.uses_oauth:
            return ApiKey(credential_from_env(section, environ))
        client_id = _from_env(section.client_id_env, "lucca.client_id_env", environ)
        if section.client_secret is not None and section.allow_secret_in_file:
            secret, secret_key = section.client_secret, "lucca.client_secret"
        else:
            secret = _from_env(section.client_secret_env, "lucca.client_secret_env", environ)
            secret_key = f"lucca.client_secret_env ({section.client_secret_env})"
        try:
            return ClientCredentials(client_id, secret, **section.oauth_options())
        except ConfigurationError as error:
            where = {
                "client_id": f"lucca.client_id_env ({section.client_id_env})",
                "client_secret": secret_key,
            }
            problems = tuple(
                f"{where.get(p.partition(':')[0], 'lucca')}: {p.partition(':')[2].strip()}"
                for p in error.problems
            )
            raise ConfigurationError("; ".join(problems), problems) from None

    def directory(self, environ: Mapping[str, str]) -> LuccaDirectory:
        """The Lucca reader, with its credential read from ``environ``.

        Raises:
            MissingSecretError: A credential's environment variable is not set.
            ConfigurationError: A credential read from the environment is invalid.
        """
        section = self.lucca
        credential = self.credential(environ)
        return LuccaDirectory(
            section.base_url,
            credential,
            timeout=section.timeout,
            retries=section.retries,
            page_size=section.page_size,
            requests_per_minute=section.requests_per_minute,
            time_zone=self.sync.time_zone,
            custom_fields=section.custom_fields,
        )

    def sink(
        self,
        environ: Mapping[str, str] = os.environ,
        *,
        secrets: bool = True,
        lock_timeout: float = 0.0,
    ) -> ElevoSink:
        """The Elevo sink the file describes (SFTP secrets read from ``environ``).

        Args:
            environ: Where the SFTP key passphrase is read from.
            secrets: ``False`` builds the sink without reading the passphrase (to validate
                the section; such a sink cannot log in with an encrypted key).
            lock_timeout: Seconds to wait for another run holding the state (``--wait-for-lock``).

        Raises:
            MissingSecretError: The passphrase's environment variable is not set.
            ConfigurationError: The section is invalid (e.g. the state folder is inside the
                drop folder, or paramiko is missing for SFTP), or Elevo's OpenPGP key cannot
                be used (missing, expired, revoked, another fingerprint...).
        """
        section = self.sink_section
        adopt_from = None if section.adopt_from is None else self.resolve(section.adopt_from)
        encryption = None
        if section.encryption is not None:
            encryption = Encryption(
                self.resolve(section.encryption.key_file),
                fingerprint=section.encryption.fingerprint,
                armor=section.encryption.armor,
            )
        if isinstance(section, DirectorySinkSection):
            return ElevoSink.to_directory(
                self.resolve(section.path),
                state_dir=None if section.state_dir is None else self.resolve(section.state_dir),
                filename=section.filename,
                adopt_from=adopt_from,
                omit_unidentified=section.omit_unidentified,
                encryption=encryption,
                lock_timeout=lock_timeout,
            )
        passphrase = None
        if section.private_key_passphrase_env is not None and secrets:
            passphrase = _from_env(
                section.private_key_passphrase_env,
                "sink.private_key_passphrase_env",
                environ,
                strip=False,
            )
        return ElevoSink.over_sftp(
            section.host,
            port=section.port,
            username=section.username,
            private_key_path=None
            if section.private_key_path is None
            else self.resolve(section.private_key_path),
            passphrase=passphrase,
            known_hosts=None if section.known_hosts is None else self.resolve(section.known_hosts),
            remote_dir=section.remote_dir,
            staging_dir=section.staging_dir,
            timeout=section.timeout,
            state_dir=self.resolve(section.state_dir),
            filename=section.filename,
            adopt_from=adopt_from,
            omit_unidentified=section.omit_unidentified,
            encryption=encryption,
            lock_timeout=lock_timeout,
        )

    def describe_sink(self) -> str:
        """One line saying where the snapshot goes."""
        section = self.sink_section
        if isinstance(section, DirectorySinkSection):
            state = "next to it" if section.state_dir is None else self.resolve(section.state_dir)
            return f"Elevo snapshot in folder {self.resolve(section.path)} (state {state})"
        return (
            f"Elevo snapshot over SFTP to {section.username}@{section.host}:{section.port}"
            f"{section.remote_dir} (state {self.resolve(section.state_dir)})"
        )

    def plan_options(self) -> dict[str, Any]:
        """The keyword options of :func:`lucca_sync.plan` the file sets (``safety`` aside)."""
        return {
            "rules": self.rules,
            "mapping": self.mapping,
            "time_zone": self.sync.time_zone,
            "on_excluded": self.rules_section.on_excluded,
            "match_by": self.sync.match_by,
            "manager_fallback": self.sync.manager_fallback,
            "mode": self.sync.mode,
            "full_every": self.sync.full_every,
            "full_every_days": self.sync.full_every_days,
        }

    def apply_options(self) -> dict[str, Any]:
        """The keyword options of :func:`lucca_sync.apply` the file sets."""
        return {"max_age": timedelta(hours=self.sync.plan_max_age_hours)}


def _from_env(name: str | None, key: str, environ: Mapping[str, str], *, strip: bool = True) -> str:
    """The value of the environment variable ``name`` (named by the file's ``key``).

    Raises:
        MissingSecretError: The variable is not set or empty (its value is never shown).
    """
    value = environ.get(name or "", "")
    if strip:
        value = value.strip()
    if not value.strip():
        raise MissingSecretError(
            f"{key}: the environment variable {name} is not set or empty; export the secret in it",
            problems=(f"{key}: environment variable {name} not set",),
        )
    return value


def credential_from_env(section: LuccaSection, environ: Mapping[str, str]) -> str:
    """The API key: from the environment variable named in the file (or the file, if allowed).

    Raises:
        MissingSecretError: The variable is not set or empty (its value is never shown).
    """
    if section.api_key is not None and section.allow_secret_in_file:
        return section.api_key
    return _from_env(section.key_env, "lucca.api_key_env", environ)
