"""make_lucca_user: realistic Lucca v3 user dicts, exactly as the wire carries them."""

from __future__ import annotations

import difflib
import itertools
import threading
import unicodedata
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Final, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["KNOWN_FIELDS", "FlagStyle", "FlagUnset", "make_lucca_user"]

FlagStyle = Literal["object-bool", "object-string", "bare-bool", "bare-string"]
FlagUnset = Literal["absent", "null", "object-null"]
ManagerKey = Literal["managerId", "managerID"]
ModifiedKey = Literal["modifiedAt", "modifiedOn"]

DEFAULT_BASE_URL: Final = "https://acme.ilucca.net"
SKIP_FLAG: Final = "e_skip_elevo_sync"

_FIRST: Final = ("Zoé", "Hélène", "Jean-Édouard", "Gaëlle", "Loïc", "Anaïs", "Benoît", "Chloé")
_LAST: Final = ("Le Gall", "N'Diaye", "Lefèvre", "Dubois-Maréchal", "Müller", "Da Silva")

_ids = itertools.count(1001)
_ids_lock = threading.Lock()
_value_ids = itertools.count(90001)


def paris_today() -> date:
    """Today in Europe/Paris, the time zone of most Lucca tenants."""
    try:
        return datetime.now(ZoneInfo("Europe/Paris")).date()
    except ZoneInfoNotFoundError:  # pragma: no cover - systems without tz data
        return date.today()


def ascii_slug(text: str) -> str:
    """``"Jean-Édouard N'Diaye"`` -> ``"jean-edouard.ndiaye"`` style e-mail parts."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return "".join(c for c in plain.replace(" ", "") if c.isalnum() or c == "-")


def ref(base_url: str, kind: str, ref_id: int, name: str) -> dict[str, object]:
    """A v3 reference object ``{id, name, url}``."""
    return {"id": ref_id, "name": name, "url": f"{base_url}/api/v3/{kind}/{ref_id}"}


def wire_date(value: date | str | None) -> str | None:
    """A date as v3 writes contract dates: naive ``YYYY-MM-DDT00:00:00``."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        value = value.date()
    return f"{value.isoformat()}T00:00:00"


def wire_timestamp(value: datetime | str) -> str:
    """A timestamp as v3 writes ``modifiedAt``: naive, with milliseconds."""
    if isinstance(value, str):
        return value
    return value.replace(tzinfo=None).isoformat(timespec="milliseconds")


def flag_entry(ticked: bool, style: FlagStyle, value_id: int | None = None) -> object:
    """The ``extendedData`` value of a check box in one of the observed shapes (§6.2)."""
    bare: object = ticked if style.endswith("bool") else ("true" if ticked else "false")
    if style.startswith("object"):
        return {"id": next(_value_ids) if value_id is None else value_id, "value": bare}
    return bare


def set_flag(
    extended: dict[str, object],
    code: str,
    ticked: bool | None,
    style: FlagStyle,
    unset: FlagUnset,
) -> None:
    """Write a check box into ``extended``: ticked, unticked, or unset in the chosen form."""
    if ticked is not None:
        extended[code] = flag_entry(ticked, style)
    elif unset == "null":
        extended[code] = None
    elif unset == "object-null":
        extended[code] = {"id": next(_value_ids), "value": None}


_DATE_KEYS: Final = frozenset({"dtContractStart", "dtContractEnd", "birthDate"})
_REF_KINDS: Final = {
    "manager": "users",
    "department": "departments",
    "legalEntity": "legalentities",
}


def _coerce(key: str, value: object, base_url: str) -> object:
    if key in _DATE_KEYS and isinstance(value, date):
        return wire_date(value)
    if key in {"modifiedAt", "modifiedOn"} and isinstance(value, datetime):
        return wire_timestamp(value)
    if key in _REF_KINDS and isinstance(value, int) and not isinstance(value, bool):
        return ref(base_url, _REF_KINDS[key], value, f"{key.capitalize()} {value}")
    return value


#: The v3 user properties ``make_lucca_user`` takes by name: the ones it writes by default and
#: the others Lucca documents or sends. Anything else is a typo until said otherwise (``extra=``).
KNOWN_FIELDS: Final = frozenset(
    {
        # written by default
        "id", "name", "url", "displayName", "firstName", "lastName", "mail", "login",
        "employeeNumber", "jobTitle", "dtContractStart", "dtContractEnd", "birthDate",
        "modifiedAt", "modifiedOn", "manager", "managerId", "managerID", "department",
        "departmentId", "legalEntity", "legalEntityId", "culture", "cultureID", "extendedData",
        # documented (schema or examples), not written by default
        "calendar", "calendarId", "picture", "applicationData", "rolePrincipal",
        "rolePrincipalId", "habilitedRoles", "userWorkCycles", "gender", "nationality",
        "address", "phoneNumber", "directLine", "professionalMobile", "personalEmail",
        "personalMobile", "seniorityDate", "jobQualification",
    }
)  # fmt: skip


def _check_choice(option: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(
            f"make_lucca_user: {option} must be one of {', '.join(map(repr, allowed))}, "
            f"not {value!r}"
        )


def _check_names(fields: Mapping[str, object], extra: Mapping[str, object]) -> None:
    """Refuse misspelt field names: ``mial=`` would otherwise be a user without the error."""
    for name in sorted(set(fields) - KNOWN_FIELDS):
        close = difflib.get_close_matches(name, KNOWN_FIELDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TypeError(
            f"make_lucca_user: unknown Lucca v3 user field {name!r}{hint}; a property "
            f"make_lucca_user does not know goes in extra={{{name!r}: ...}}"
        )
    for name in sorted(set(extra) & KNOWN_FIELDS):
        raise TypeError(
            f"make_lucca_user: {name!r} is a known field: pass it as {name}=..., not in extra="
        )


def make_lucca_user(
    *,
    base_url: str = DEFAULT_BASE_URL,
    manager_key: ManagerKey = "managerId",
    modified_key: ModifiedKey = "modifiedAt",
    skip_flag: bool | None = None,
    flag_style: FlagStyle = "object-bool",
    flag_unset: FlagUnset = "absent",
    flag_code: str = SKIP_FLAG,
    extra: Mapping[str, object] | None = None,
    **fields: object,
) -> dict[str, Any]:
    """A Lucca v3 user as ``/api/v3/users`` returns it with every field asked for.

    Defaults are realistic (accented names, an e-mail derived from them, contract dates as
    ``YYYY-MM-DDT00:00:00``, ``modifiedAt`` with milliseconds, department and establishment
    references with URLs, an empty ``extendedData``). Any wire field can be overridden by its
    camelCase name; ``dtContractStart``/``dtContractEnd``/``birthDate`` also accept
    :class:`~datetime.date`, ``modifiedAt`` a :class:`~datetime.datetime`, and ``manager``,
    ``department``, ``legalEntity`` an integer id (expanded into a reference). The flat
    ``managerId`` and ``departmentId``/``legalEntityId`` follow the nested references unless
    given.

    Args:
        base_url: the tenant URL used in ``url`` fields.
        manager_key: the flat manager key, ``"managerId"`` (docs) or ``"managerID"`` (Elevo).
        modified_key: ``"modifiedAt"`` (docs) or ``"modifiedOn"`` (OpenAPI model).
        skip_flag: ``True``/``False`` writes the check box ``flag_code`` ticked/unticked;
            ``None`` leaves it unset (see ``flag_unset``).
        flag_style: how the box is written: ``{"id", "value": true}`` (``"object-bool"``),
            ``{"id", "value": "true"}`` (``"object-string"``), bare ``true`` or ``"true"``.
        flag_unset: an unset box is ``"absent"``, ``"null"`` or ``{"id", "value": null}``
            (``"object-null"``).
        flag_code: the custom-field code of the check box.
        extra: properties added as given, for those ``**fields`` does not know (a field a
            tenant's applications add, or a shape Lucca might send one day).
        **fields: wire fields overriding the defaults, by their v3 names (those written by
            default, and the others Lucca documents: ``calendar``, ``picture``,
            ``applicationData``, ``rolePrincipal``, ``habilitedRoles``, ``userWorkCycles``,
            ``gender``, ``nationality``, ...); ``id`` is assigned when missing (unique within
            the process).

    Returns:
        A new dict, JSON-serialisable when the values given are.

    Raises:
        TypeError: a name in ``**fields`` is not a known v3 user field (a typo such as
            ``mial=`` would otherwise build a user without the field meant), or a name in
            ``extra`` is one.
        ValueError: ``manager_key``, ``modified_key``, ``flag_style`` or ``flag_unset`` is not
            one of its values.
    """
    extra = {} if extra is None else dict(extra)
    _check_names(fields, extra)
    _check_choice("manager_key", manager_key, get_args(ManagerKey))
    _check_choice("modified_key", modified_key, get_args(ModifiedKey))
    _check_choice("flag_style", flag_style, get_args(FlagStyle))
    _check_choice("flag_unset", flag_unset, get_args(FlagUnset))
    if "id" in fields:
        user_id = fields.pop("id")
    else:
        with _ids_lock:
            user_id = next(_ids)
    index = user_id if isinstance(user_id, int) else 0
    first = str(fields.get("firstName", _FIRST[index % len(_FIRST)]))
    last = str(fields.get("lastName", _LAST[index // len(_FIRST) % len(_LAST)]))
    local = f"{ascii_slug(first)}.{ascii_slug(last)}"
    user: dict[str, Any] = {
        "id": user_id,
        "name": f"{first} {last}",
        "url": f"{base_url}/api/v3/users/{user_id}",
        "displayName": f"{last} {first}",
        "firstName": first,
        "lastName": last,
        "mail": f"{local}@acme.example",
        "login": local,
        "employeeNumber": f"{index:05d}",
        "jobTitle": "Chargée de recrutement",
        "dtContractStart": "2019-09-02T00:00:00",
        "dtContractEnd": None,
        "birthDate": "1990-04-12T00:00:00",
        modified_key: "2024-11-05T14:31:07.412",
        "manager": None,
        manager_key: None,
        "department": ref(base_url, "departments", 13, "Ressources humaines"),
        "departmentId": 13,
        "legalEntity": ref(base_url, "legalentities", 1, "Acme Paris"),
        "legalEntityId": 1,
        "culture": ref(base_url, "cultures", 1036, "français (France)"),
        "cultureID": 1036,
        "extendedData": {},
    }
    given = {key: _coerce(key, value, base_url) for key, value in fields.items()}
    given_manager_key = next((k for k in ("managerId", "managerID") if k in given), manager_key)
    for nested, flat in (
        ("manager", given_manager_key),
        ("department", "departmentId"),
        ("legalEntity", "legalEntityId"),
    ):
        if nested in given and flat not in given:
            value = given[nested]
            given[flat] = value.get("id") if isinstance(value, Mapping) else None
        elif flat in given and nested not in given:
            # A flat id alone (``managerId=1``) must not leave the default ``None`` reference
            # beside it: clients read the nested object first.
            given[nested] = _coerce(nested, given[flat], base_url)
    if given_manager_key != manager_key:
        del user[manager_key]  # one flat spelling per user, the one the caller chose
    user.update(given)
    user.update(extra)
    extended = user.get("extendedData")
    if isinstance(extended, Mapping):
        extended = dict(extended)
        set_flag(extended, flag_code, skip_flag, flag_style, flag_unset)
        user["extendedData"] = extended
    return user
