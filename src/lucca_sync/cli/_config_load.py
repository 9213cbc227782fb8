"""Reading a configuration file: strict cattrs hooks, checks across sections, every problem of
the file collected with its dotted path and raised at once as one
:class:`~lucca_sync.exceptions.ConfigurationError`.
"""

from __future__ import annotations

import difflib
import itertools
import os
import re
import tomllib
import typing
import zoneinfo
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import attrs
import cattrs
from cattrs.errors import ForbiddenExtraKeysError

from lucca_sync._engine._safety import Safety
from lucca_sync._lucca import ClientCredentials
from lucca_sync._lucca._http import check_base_url
from lucca_sync.cli._config import (
    _API_KEY_KEYS,
    _OAUTH_KEYS,
    DEFAULT_API_KEY_ENV,
    Config,
    DirectorySinkSection,
    LuccaSection,
    RulesSection,
    SafetySection,
    SftpSinkSection,
    SinkSection,
    SyncSection,
)
from lucca_sync.elevo import Encryption
from lucca_sync.elevo._csv import accepts_field as elevo_accepts_field
from lucca_sync.exceptions import ConfigurationError
from lucca_sync.mapping import FieldMapping
from lucca_sync.rules import DEFAULT_RULES, ExclusionRule, rules_from_config

__all__ = ["config_from_dict", "load_config", "looks_like_env_name", "secrets_to_hide"]

_T = TypeVar("_T")

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
#: Longest environment variable name accepted, and longest word between two ``_``.
_ENV_NAME_LENGTH, _ENV_WORD_LENGTH = 64, 24
#: Letter/digit and lower/upper-case switches a name may have (``K8S_TOKEN_V2`` has 3).
_ENV_NAME_SWITCHES = 3
_SUBDOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?", re.IGNORECASE)


_RULES_ARRAY_HINT = (
    "rules: expected a table, got an array of tables ([[rules]]); write each rule as "
    '[[rules.exclude]] (rule = "skip_flag", ...), and on_excluded under [rules]'
)


def _is_rule_array(value: object) -> bool:
    """``[[rules]]`` tables: the rule list written one level too high."""
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


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


def looks_like_env_name(value: str) -> bool:
    """Whether ``value`` reads like the *name* of an environment variable, not like a secret.

    A name is ASCII letters, digits and ``_``, does not start with a digit, has at most 64
    characters, words of at most 24 between underscores, and at most 3 switches between
    letters and digits or from a lower- to an upper-case letter (``LUCCA_API_KEY``,
    ``K8S_TOKEN_V2``, ``LuccaKey``). Random keys and secrets switch far more often, are longer,
    or hold ``-``, ``+``, ``/`` or ``=``.
    """
    if len(value) > _ENV_NAME_LENGTH or not _ENV_NAME.fullmatch(value):
        return False
    if any(len(word) > _ENV_WORD_LENGTH for word in value.split("_")):
        return False
    switches = sum(
        1
        for before, after in itertools.pairwise(value)
        if (before.isdigit() != after.isdigit() and "_" not in (before, after))
        or (before.islower() and after.isupper())
    )
    return switches <= _ENV_NAME_SWITCHES


def _env_name_problem(key: str) -> str:
    # The value is never quoted: it may be the secret itself, pasted in the wrong place.
    return (
        f"{key}: expected the name of an environment variable, such as LUCCA_API_KEY (letters, "
        "digits and '_', at most 64 characters); the value given does not look like one and is "
        "not shown. If the secret itself was pasted here, put it in the environment instead, "
        "write the variable's name here, and consider the secret exposed: rotate it"
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
        if value is not None and not looks_like_env_name(value):
            problems.append(_env_name_problem(f"lucca.{name}"))
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
    if section.encryption is not None:
        try:
            Encryption(section.encryption.key_file, fingerprint=section.encryption.fingerprint)
        except ConfigurationError as error:
            problems.append(f"sink.encryption.{error}")
    if isinstance(section, SftpSinkSection):
        name = section.private_key_passphrase_env
        if name is not None and not looks_like_env_name(name):
            problems.append(_env_name_problem("sink.private_key_passphrase_env"))
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
    if section.full_every_days < 1:
        problems.append("sync.full_every_days: expected an integer of 1 or more")
    if not 0 < section.plan_max_age_hours < 24 * 365:
        problems.append(
            "sync.plan_max_age_hours: expected a number of hours greater than 0 (and below a year)"
        )
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
    rules_section = None
    if _is_rule_array(data.get("rules")):
        problems.append(_RULES_ARRAY_HINT)
    else:
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
        # A *_env value that is no name may be a secret pasted in the wrong place.
        found += [
            lucca[k]
            for k in ("api_key_env", "client_id_env", "client_secret_env")
            if _is_str(lucca, k) and not looks_like_env_name(lucca[k])
        ]
    if isinstance(sink, dict) and isinstance(sink.get("private_key_passphrase_env"), str):
        names.append(sink["private_key_passphrase_env"])
        if not looks_like_env_name(sink["private_key_passphrase_env"]):
            found.append(sink["private_key_passphrase_env"])
    found += [environ[name] for name in names if environ.get(name, "").strip()]
    # Every length: redact() replaces a short value only as it is, never in other spellings.
    return [value for value in found if value]


def _is_str(table: Mapping[str, object], key: str) -> bool:
    return isinstance(table.get(key), str)
