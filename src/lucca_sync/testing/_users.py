"""make_lucca_user: realistic Lucca v3 user dicts, exactly as the wire carries them."""

from __future__ import annotations

import itertools
import threading
import unicodedata
from collections.abc import Mapping
from datetime import date, datetime
from typing import Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["FlagStyle", "FlagUnset", "make_lucca_user"]

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


def make_lucca_user(
    *,
    base_url: str = DEFAULT_BASE_URL,
    manager_key: ManagerKey = "managerId",
    modified_key: ModifiedKey = "modifiedAt",
    skip_flag: bool | None = None,
    flag_style: FlagStyle = "object-bool",
    flag_unset: FlagUnset = "absent",
    flag_code: str = SKIP_FLAG,
    **fields: object,
) -> dict[str, object]:
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
        **fields: wire fields overriding the defaults; ``id`` is assigned when missing
            (unique within the process).

    Returns:
        A new dict, JSON-serialisable.
    """
    if "id" in fields:
        user_id = fields.pop("id")
    else:
        with _ids_lock:
            user_id = next(_ids)
    index = user_id if isinstance(user_id, int) else 0
    first = str(fields.get("firstName", _FIRST[index % len(_FIRST)]))
    last = str(fields.get("lastName", _LAST[index // len(_FIRST) % len(_LAST)]))
    local = f"{ascii_slug(first)}.{ascii_slug(last)}"
    user: dict[str, object] = {
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
    extended = user.get("extendedData")
    if isinstance(extended, Mapping):
        extended = dict(extended)
        set_flag(extended, flag_code, skip_flag, flag_style, flag_unset)
        user["extendedData"] = extended
    return user
