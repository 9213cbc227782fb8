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

import difflib
import os
import re
import tomllib
import typing
import zoneinfo
from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import attrs
import cattrs
from cattrs.errors import ForbiddenExtraKeysError

from lucca_sync._engine._incremental import DEFAULT_FULL_EVERY, SyncMode
from lucca_sync._engine._safety import Safety
from lucca_sync._lucca import ApiKey, ClientCredentials, LuccaDirectory
from lucca_sync._lucca._http import check_base_url
from lucca_sync.elevo import ElevoSink
from lucca_sync.elevo._csv import accepts_field as elevo_accepts_field
from lucca_sync.exceptions import ConfigurationError
from lucca_sync.mapping import FieldMapping
from lucca_sync.rules import DEFAULT_RULES, ExclusionRule, rules_from_config

__all__ = [
    "Config",
    "DirectorySinkSection",
    "LuccaSection",
    "MissingSecretError",
    "RulesSection",
    "SafetySection",
    "SftpSinkSection",
    "SyncSection",
    "load_config",
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
class DirectorySinkSection:
    """``[sink] type = "directory"``: write the Elevo snapshot into a local folder."""

    type: Literal["directory"] = "directory"
    path: str
    state_dir: str | None = None
    filename: str = "users.csv"
    adopt_from: str | None = None
    omit_unidentified: bool = False


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
    filename: str = "users.csv"
    adopt_from: str | None = None
    omit_unidentified: bool = False


@attrs.frozen(kw_only=True)
class SafetySection:
    """``[safety]``: the limits of :class:`lucca_sync.Safety`; absent keys keep its defaults."""

    max_suspensions: int | None = None
    max_suspension_ratio: float | None = None
    min_source_ratio: float | None = None
    allow_empty_source: bool | None = None


@attrs.frozen(kw_only=True)
class SyncSection:
    """``[sync]``: planning options (see :func:`lucca_sync.plan`)."""

    time_zone: str = "Europe/Paris"
    match_by: tuple[str, ...] = ()
    manager_fallback: Literal["nearest_ancestor", "empty"] = "nearest_ancestor"
    mode: SyncMode = "full"
    full_every: int = DEFAULT_FULL_EVERY


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

    def sink(self, environ: Mapping[str, str] = os.environ, *, secrets: bool = True) -> ElevoSink:
        """The Elevo sink the file describes (SFTP secrets read from ``environ``).

        Args:
            environ: Where the SFTP key passphrase is read from.
            secrets: ``False`` builds the sink without reading the passphrase (to validate
                the section; such a sink cannot log in with an encrypted key).

        Raises:
            MissingSecretError: The passphrase's environment variable is not set.
            ConfigurationError: The section is invalid (e.g. the state folder is inside the
                drop folder, or paramiko is missing for SFTP).
        """
        section = self.sink_section
        adopt_from = None if section.adopt_from is None else self.resolve(section.adopt_from)
        if isinstance(section, DirectorySinkSection):
            return ElevoSink.to_directory(
                self.resolve(section.path),
                state_dir=None if section.state_dir is None else self.resolve(section.state_dir),
                filename=section.filename,
                adopt_from=adopt_from,
                omit_unidentified=section.omit_unidentified,
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
        }


# --- the converter --------------------------------------------------------------------------


class _ExpectedError(ValueError):
    """A value of the wrong type or outside its allowed set; the message says what was expected."""


def _describe(value: object) -> str:
    """Name the TOML type of ``value`` without echoing it (it could be a secret)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array"
    return f"a {type(value).__name__}"


def _strict_str(value: object, _: type) -> str:
    if not isinstance(value, str):
        raise _ExpectedError(f"expected a string, got {_describe(value)}")
    return value


def _strict_bool(value: object, _: type) -> bool:
    if not isinstance(value, bool):
        raise _ExpectedError(f"expected true or false, got {_describe(value)}")
    return value


def _strict_int(value: object, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _ExpectedError(f"expected an integer, got {_describe(value)}")
    return value


def _strict_float(value: object, _: type) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _ExpectedError(f"expected a number, got {_describe(value)}")
    return float(value)


def _strict_dict(value: object, _: type) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _ExpectedError(f"expected a table, got {_describe(value)}")
    return value


def _literal_hook(literal: Any) -> Callable[[object, type], object]:
    choices = typing.get_args(literal)

    def structure(value: object, _: type) -> object:
        if value not in choices or isinstance(value, bool):
            expected = ", ".join(repr(choice) for choice in choices)
            got = repr(value) if isinstance(value, str) and len(value) <= 40 else _describe(value)
            raise _ExpectedError(f"expected one of {expected}, got {got}")
        return value

    return structure


def _is_raw_table(kind: object) -> bool:
    return kind == dict[str, Any]


def _is_literal(kind: object) -> bool:
    return typing.get_origin(kind) is Literal


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)

    def strict_strings(value: object, _: type) -> tuple[str, ...]:
        # cattrs would turn "email" into ("e", "m", "a", "i", "l").
        if not isinstance(value, list):
            raise _ExpectedError(f"expected an array of strings, got {_describe(value)}")
        return tuple(converter.structure(value, list[str]))

    converter.register_structure_hook(str, _strict_str)
    converter.register_structure_hook(bool, _strict_bool)
    converter.register_structure_hook(int, _strict_int)
    converter.register_structure_hook(float, _strict_float)
    converter.register_structure_hook_func(_is_raw_table, _strict_dict)
    converter.register_structure_hook_factory(_is_literal, _literal_hook)
    converter.register_structure_hook_func(lambda kind: kind == tuple[str, ...], strict_strings)
    return converter


#: The one converter of the configuration file.
_CONVERTER = _make_converter()


def _format(exc: BaseException, kind: type | None) -> str:
    if isinstance(exc, _ExpectedError):
        return str(exc)
    if isinstance(exc, ForbiddenExtraKeysError):
        known = [field.name for field in attrs.fields(exc.cl)]
        extra = sorted(exc.extra_fields)
        if len(extra) == 1:
            close = difflib.get_close_matches(extra[0], known, n=1)
            if close:
                return f"unknown key {extra[0]!r} (did you mean {close[0]!r}?)"
        noun = "key" if len(extra) == 1 else "keys"
        listed = ", ".join(repr(key) for key in extra)
        return f"unknown {noun} {listed} (expected one of: {', '.join(known)})"
    if isinstance(exc, KeyError):
        return "required key missing"
    if isinstance(exc, AttributeError | TypeError):
        return "expected a table" if kind is None or attrs.has(kind) else f"invalid value ({exc})"
    return cattrs.v.format_exception(exc, kind)


def _problems(exc: BaseException, path: str) -> list[str]:
    """``"key.path: what was expected"`` for each problem cattrs found under ``path``."""
    problems = []
    for message in cattrs.transform_error(exc, path=path, format_exception=_format):
        text, _, where = message.rpartition(" @ ")
        where = where.removeprefix("$.")
        problems.append(f"{where}: {text}")
    return problems


def _structure(data: object, kind: type[_T], path: str, problems: list[str]) -> _T | None:
    try:
        return _CONVERTER.structure(data, kind)
    except Exception as exc:  # every structuring failure becomes a problem line
        problems.extend(_problems(exc, f"$.{path}"))
        return None


# --- loading --------------------------------------------------------------------------------

_SECTIONS = ("lucca", "rules", "mapping", "sink", "safety", "sync")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SUBDOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?", re.IGNORECASE)


_KEY_IN_FILE_REFUSAL = (
    "lucca.api_key: an API key written in the configuration file is refused; put it in the "
    "environment variable named by lucca.api_key_env (LUCCA_API_KEY by default) instead, "
    "or set lucca.allow_secret_in_file = true"
)
_CLIENT_KEY_IN_FILE_REFUSAL = (
    "lucca.client_secret: a client secret written in the configuration file is refused; put "
    "it in the environment variable named by lucca.client_secret_env instead, or set "
    "lucca.allow_secret_in_file = true"
)


def _secrets_in_file(lucca: object) -> list[str]:
    """The refusals for secrets an unparsable ``[lucca]`` table still holds."""
    if not isinstance(lucca, dict) or lucca.get("allow_secret_in_file") is True:
        return []
    refusals = {"api_key": _KEY_IN_FILE_REFUSAL, "client_secret": _CLIENT_KEY_IN_FILE_REFUSAL}
    return [refusal for key, refusal in refusals.items() if key in lucca]


def _check_url(section: LuccaSection, problems: list[str]) -> None:
    if section.url is None and section.subdomain is None:
        problems.append(
            "lucca.url: required — the tenant URL (https://acme.ilucca.net), "
            "or lucca.subdomain with environment and region"
        )
        return
    if section.url is not None and section.subdomain is not None:
        problems.append("lucca: give either url or subdomain, not both")
        return
    if section.subdomain is not None and not _SUBDOMAIN.fullmatch(section.subdomain):
        problems.append(
            "lucca.subdomain: expected the text before .ilucca.net (letters, digits, hyphens)"
        )
        return
    # The reader's own rules (https, or http to a loopback host only), checked before any run.
    try:
        check_base_url(section.base_url)
    except ConfigurationError as error:
        key = "lucca.url" if section.url is not None else "lucca.subdomain"
        problems.extend(
            f"{key}: {problem.removeprefix('base_url:').strip()}" for problem in error.problems
        )


def _check_credentials(section: LuccaSection, problems: list[str]) -> None:
    """One kind of credential, complete, with its secrets outside the file."""
    api_key = [key for key in _API_KEY_KEYS if getattr(section, key) is not None]
    oauth = [key for key in _OAUTH_KEYS if getattr(section, key) is not None]
    if api_key and oauth:
        problems.append(
            "lucca: give either the API key (api_key_env) or the Lucca API client credentials "
            "(client_id_env, client_secret_env), not both; found "
            + ", ".join(f"lucca.{key}" for key in api_key + oauth)
        )
    names = ["api_key_env", "client_id_env", "client_secret_env"]
    for name in names:
        value = getattr(section, name)
        if value is not None and not _ENV_NAME.fullmatch(value):
            problems.append(f"lucca.{name}: expected an environment variable name")
    if section.api_key is not None and not section.allow_secret_in_file:
        problems.append(_KEY_IN_FILE_REFUSAL)
    if section.client_secret is not None and not section.allow_secret_in_file:
        problems.append(_CLIENT_KEY_IN_FILE_REFUSAL)
    if not oauth or api_key:
        return
    if section.client_id_env is None:
        problems.append(
            "lucca.client_id_env: required with the Lucca API credentials — the name of the "
            "environment variable holding the OAuth client id"
        )
    if section.client_secret_env is None and section.client_secret is None:
        problems.append(
            "lucca.client_secret_env: required with the Lucca API credentials — the name of "
            "the environment variable holding the OAuth client secret"
        )
    if section.client_secret_env is not None and section.client_secret is not None:
        problems.append("lucca: give either client_secret_env or client_secret, not both")
    # The credential's own checks of scopes and token URL, with placeholder id and secret.
    try:
        ClientCredentials("placeholder-id", "placeholder-secret", **section.oauth_options())
    except ConfigurationError as error:
        problems.extend(f"lucca.{problem}" for problem in error.problems)
    if section.custom_fields is not None and not all(
        code.strip() for code in section.custom_fields
    ):
        problems.append(
            "lucca.custom_fields: expected custom field codes such as 'e_skip_elevo_sync'"
        )


def _check_lucca(section: LuccaSection, problems: list[str]) -> None:
    _check_url(section, problems)
    _check_credentials(section, problems)
    if section.timeout <= 0:
        problems.append("lucca.timeout: expected a number of seconds greater than 0")
    if section.retries < 0:
        problems.append("lucca.retries: expected 0 or more")
    if not 1 <= section.page_size <= 1000:
        problems.append("lucca.page_size: expected an integer from 1 to 1000 (Lucca's maximum)")
    if section.requests_per_minute < 1:
        problems.append("lucca.requests_per_minute: expected an integer of 1 or more")


def _check_sink(section: SinkSection, problems: list[str]) -> None:
    if isinstance(section, SftpSinkSection):
        name = section.private_key_passphrase_env
        if name is not None and not _ENV_NAME.fullmatch(name):
            problems.append(
                "sink.private_key_passphrase_env: expected an environment variable name"
            )
        if not 1 <= section.port <= 65535:
            problems.append("sink.port: expected a TCP port from 1 to 65535")
        if section.timeout <= 0:
            problems.append("sink.timeout: expected a number of seconds greater than 0")


def _check_sync(section: SyncSection, lucca: LuccaSection | None, problems: list[str]) -> None:
    try:
        zoneinfo.ZoneInfo(section.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems.append(
            f"sync.time_zone: expected an IANA time zone such as 'Europe/Paris', "
            f"got {section.time_zone!r}"
        )
    if section.full_every < 1:
        problems.append("sync.full_every: expected an integer of 1 or more")
    if section.mode != "full" and lucca is not None and lucca.uses_oauth:
        problems.append(
            f"sync.mode: {section.mode!r} needs the legacy API key (lucca.api_key_env): the "
            "Lucca API has no filter on modification dates, so it reads everyone; use 'full'"
        )


def _prefixed(prefix: str, error: ConfigurationError) -> list[str]:
    """The problems of a library ConfigurationError, each under ``prefix`` unless it has it."""
    problems = []
    for problem in error.problems:
        if problem.startswith(prefix):
            problems.append(problem)
        elif problem.startswith("["):
            problems.append(f"{prefix}{problem}")
        else:
            problems.append(f"{prefix}.{problem}")
    return problems


def _build_rules(data: tuple[dict[str, Any], ...] | None) -> tuple[ExclusionRule, ...]:
    if data is None:
        return DEFAULT_RULES
    return rules_from_config(list(data), path="rules.exclude")


def _build_mapping(data: dict[str, Any] | None) -> FieldMapping:
    if data is None:
        return FieldMapping.elevo_default()
    return FieldMapping.from_dict(data, accepts=elevo_accepts_field)


def _build_safety(section: SafetySection) -> Safety:
    limits = {key: value for key, value in attrs.asdict(section).items() if value is not None}
    try:
        return Safety(**limits)
    except ConfigurationError as error:
        # Safety names its arguments "Safety.<name>"; the file calls them "safety.<name>".
        raise ConfigurationError(
            str(error), tuple(p.replace("Safety.", "", 1) for p in error.problems)
        ) from error


def _build(build: Callable[[], _T], prefix: str, problems: list[str]) -> _T | None:
    try:
        return build()
    except ConfigurationError as error:
        problems.extend(_prefixed(prefix, error))
        return None


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read, structure and validate a configuration file.

    Args:
        path: The TOML file.

    Returns:
        The validated configuration, with the rules, mapping and safety limits built.

    Raises:
        ConfigurationError: The file cannot be read or parsed, or has problems; ``problems``
            lists every one of them as ``"key.path: what was expected"``.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigurationError(f"cannot read configuration file {file}: {reason}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"configuration file {file} is not UTF-8 text") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"configuration file {file} is not valid TOML: {exc}") from exc
    return config_from_dict(data, path=file)


def config_from_dict(data: Mapping[str, object], *, path: Path) -> Config:
    """Structure and validate the parsed content of a configuration file.

    Args:
        data: The parsed TOML document.
        path: Where it was read from; relative paths in it are relative to its folder.

    Returns:
        The validated configuration.

    Raises:
        ConfigurationError: Listing every problem found.
    """
    problems = [
        f"{key}: unknown section (expected one of: {', '.join(_SECTIONS)})"
        for key in sorted(set(data) - set(_SECTIONS))
    ]
    if "lucca" not in data:
        problems.append("lucca: required section missing (the Lucca URL and credentials)")
    if "sink" not in data:
        problems.append("sink: required section missing (where to deliver the Elevo snapshot)")

    lucca = _structure(data.get("lucca", {}), LuccaSection, "lucca", problems)
    rules_section = _structure(data.get("rules", {}), RulesSection, "rules", problems)
    sink = _structure_sink_section(data.get("sink"), problems)
    sync = _structure(data.get("sync", {}), SyncSection, "sync", problems)
    mapping_data = None
    if "mapping" in data:
        mapping_data = _structure(data["mapping"], dict[str, Any], "mapping", problems)
    safety_section = _structure(data.get("safety", {}), SafetySection, "safety", problems)

    if lucca is not None and "lucca" in data:
        _check_lucca(lucca, problems)
    else:
        problems.extend(_secrets_in_file(data.get("lucca")))
    if sink is not None:
        _check_sink(sink, problems)
    if sync is not None:
        _check_sync(sync, lucca, problems)

    rules = None
    if rules_section is not None:
        rules = _build(lambda: _build_rules(rules_section.exclude), "rules.exclude", problems)
    mapping = None
    if mapping_data is not None or "mapping" not in data:
        mapping = _build(lambda: _build_mapping(mapping_data), "mapping", problems)
    safety = None
    if safety_section is not None:
        safety = _build(lambda: _build_safety(safety_section), "safety", problems)

    if problems:
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        message = f"configuration file {path} has {count} {noun}:\n  " + "\n  ".join(problems)
        raise ConfigurationError(message, problems=tuple(problems))
    # No problem means every section was structured and built.
    assert lucca is not None  # noqa: S101
    assert rules_section is not None  # noqa: S101
    assert sink is not None  # noqa: S101
    assert sync is not None  # noqa: S101
    assert rules is not None  # noqa: S101
    assert mapping is not None  # noqa: S101
    assert safety is not None  # noqa: S101
    return Config(
        path=path,
        lucca=lucca,
        rules_section=rules_section,
        sink_section=sink,
        sync=sync,
        rules=rules,
        mapping=mapping,
        safety=safety,
    )


def _structure_sink_section(data: object, problems: list[str]) -> SinkSection | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        problems.append(f"sink: expected a table, got {_describe(data)}")
        return None
    kinds: dict[object, type[DirectorySinkSection] | type[SftpSinkSection]] = {
        "directory": DirectorySinkSection,
        "sftp": SftpSinkSection,
    }
    if "type" not in data:
        problems.append("sink.type: required key missing ('directory' or 'sftp')")
        return None
    # A TOML table or array is unhashable: look it up only when it is a string.
    kind = kinds.get(data["type"]) if isinstance(data["type"], str) else None
    if kind is None:
        got = data["type"]
        shown = repr(got) if isinstance(got, str) and len(got) <= 40 else _describe(got)
        problems.append(f"sink.type: expected 'directory' or 'sftp', got {shown}")
        return None
    return _structure(data, kind, "sink", problems)


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


def secrets_to_hide(config_path: str | os.PathLike[str], environ: Mapping[str, str]) -> list[str]:
    """The secret values a run with this configuration could know, to scrub from any output.

    Reads the file leniently (any error means: nothing more to hide than nothing).
    """
    try:
        data = tomllib.loads(Path(config_path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []
    names = [DEFAULT_API_KEY_ENV]
    found = []
    lucca, sink = data.get("lucca"), data.get("sink")
    if isinstance(lucca, dict):
        names += [lucca[k] for k in ("api_key_env", "client_secret_env") if _is_str(lucca, k)]
        found += [lucca[k] for k in ("api_key", "client_secret") if _is_str(lucca, k)]
    if isinstance(sink, dict) and isinstance(sink.get("private_key_passphrase_env"), str):
        names.append(sink["private_key_passphrase_env"])
    found += [environ[name] for name in names if environ.get(name, "").strip()]
    # Very short values would scrub innocent text; real secrets are long.
    return [value for value in found if len(value) >= 8]


def _is_str(table: Mapping[str, object], key: str) -> bool:
    return isinstance(table.get(key), str)
