"""Decoding Lucca's legacy v3 wire format into :class:`~lucca_sync.Employee`.

One cattrs converter holds the wire rules (strict scalars, naive ISO date-times, ``T00:00:00``
dates, camelCase names); a small normalisation step before it absorbs the quirks that are not
a matter of types (``manager.id`` vs ``managerId``/``managerID``, ``modifiedAt`` vs
``modifiedOn``, the ``{id, value}`` wrappers of ``extendedData``). Every failure, whatever its
cause, leaves as :class:`~lucca_sync.exceptions.ResponseDecodeError` naming the JSON path and
the user id.
"""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Callable, Mapping
from datetime import date, datetime, tzinfo
from types import MappingProxyType
from typing import Any, Final, cast
from urllib.parse import urlsplit

from cattrs import Converter
from cattrs.gen import make_dict_structure_fn, override

from lucca_sync._employee import Employee, Ref, slim_raw
from lucca_sync._lucca._http import is_int
from lucca_sync._lucca._wire import WireError, explain, json_type
from lucca_sync.exceptions import ResponseDecodeError

__all__ = ["USER_FIELDS", "RowKey", "V3Decoder"]

#: The ``fields=`` projection: everything :class:`Employee` needs, plus the custom fields.
USER_FIELDS: Final = (
    "id,name,firstName,lastName,mail,login,employeeNumber,jobTitle,"
    "dtContractStart,dtContractEnd,modifiedAt,"
    "department[id,name],legalEntity[id,name],manager[id,name],extendedData"
)

#: Employee attribute -> v3 property, for the renames and for error paths.
_WIRE_NAMES: Final = {
    "id": "id",
    "first_name": "firstName",
    "last_name": "lastName",
    "email": "mail",
    "login": "login",
    "employee_number": "employeeNumber",
    "job_title": "jobTitle",
    "manager_id": "managerId",
    "department": "department",
    "legal_entity": "legalEntity",
    "contract_start": "dtContractStart",
    "contract_end": "dtContractEnd",
    "modified_at": "modifiedAt",
    "extended_data": "extendedData",
    "raw": "raw",
}
_COPIED: Final = tuple(
    name for name in _WIRE_NAMES.values() if name not in {"managerId", "modifiedAt", "raw"}
)

#: How a row is recognised across pages: its id when readable (a plain int: one is kept per
#: employee read), else its whole JSON.
RowKey = int | tuple[str, str]


def _passthrough(value: object, _type: object) -> object:
    return value


def _strict_str(value: object, _type: object) -> str:
    if not isinstance(value, str):
        raise WireError(f"expected a string, got {json_type(value)}")
    return value


def _strict_int(value: object, _type: object) -> int:
    if not is_int(value):
        raise WireError(f"expected an integer, got {json_type(value)}")
    return cast(int, value)


def _datetime_hook(zone: tzinfo) -> Callable[[object, object], datetime]:
    def structure(value: object, _type: object) -> datetime:
        if not isinstance(value, str):
            raise WireError(f"expected an ISO date-time string, got {json_type(value)}")
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            # The value itself is not quoted: messages carry no HR data.
            raise WireError(
                f"expected an ISO date-time, got a {len(value)}-character string that is not one"
            ) from None
        if parsed.tzinfo is not None:
            # Lucca v3 sends tenant-local naive times; an explicit offset is converted to the
            # tenant's zone so that every datetime the library hands out is naive local time.
            parsed = parsed.astimezone(zone).replace(tzinfo=None)
        return parsed

    return structure


@functools.cache
def _converter(zone: tzinfo) -> Converter:
    converter = Converter(detailed_validation=True, forbid_extra_keys=False)
    converter.register_structure_hook(str, _strict_str)
    converter.register_structure_hook(int, _strict_int)
    to_datetime = _datetime_hook(zone)
    converter.register_structure_hook(datetime, to_datetime)
    converter.register_structure_hook(date, lambda value, t: to_datetime(value, t).date())
    converter.register_structure_hook(
        Employee,
        make_dict_structure_fn(
            Employee,
            converter,
            first_name=override(rename="firstName"),
            last_name=override(rename="lastName"),
            email=override(rename="mail"),
            employee_number=override(rename="employeeNumber"),
            job_title=override(rename="jobTitle"),
            manager_id=override(rename="managerId"),
            legal_entity=override(rename="legalEntity"),
            contract_start=override(rename="dtContractStart"),
            contract_end=override(rename="dtContractEnd"),
            modified_at=override(rename="modifiedAt"),
            extended_data=override(rename="extendedData", struct_hook=_passthrough),
            raw=override(struct_hook=_passthrough),
        ),
    )
    return converter


class V3Decoder:
    """Turns v3 response bodies into employees.

    Args:
        zone: The tenant's time zone, used only for date-times that carry an explicit offset.
    """

    def __init__(self, zone: tzinfo) -> None:
        self._converter = _converter(zone)
        self._zone = zone
        self._to_datetime = _datetime_hook(zone)
        # Values that repeat across employees (departments, establishments, contract dates)
        # are decoded once and shared: less time and memory per employee.
        self._refs: dict[int, Ref] = {}
        self._dates: dict[str, date] = {}

    def items(self, body: object, *, url: str) -> tuple[str, list[object]]:
        """The user objects of a list page and the JSON path they sit at.

        Accepts ``{"header": …, "data": {"items": […]}}``, the same without ``header``, and a
        bare ``{"items": […]}``.

        Raises:
            ResponseDecodeError: Any other envelope.
        """
        if isinstance(body, dict):
            if "data" in body:
                data = body["data"]
                if isinstance(data, dict) and isinstance(data.get("items"), list):
                    return "data.items", data["items"]
                where = "data.items" if isinstance(data, dict) else "data"
                found = data.get("items") if isinstance(data, dict) else data
                raise _envelope_error(url, where, f"a list of users, got {json_type(found)}")
            if isinstance(body.get("items"), list):
                return "items", body["items"]
        raise _envelope_error(
            url, "data.items", f"an object with data.items, got {_describe_top(body)}"
        )

    def single(self, body: object, *, url: str) -> Employee:
        """The employee of a ``/api/v3/users/{id}`` answer: ``{"data": {…}}`` or a bare user.

        Raises:
            ResponseDecodeError: Not that shape, or the user is malformed.
        """
        if isinstance(body, dict) and isinstance(body.get("data"), dict):
            return self.employee(body["data"], url=url, path="data")
        if isinstance(body, dict) and "data" not in body and "id" in body:
            return self.employee(body, url=url, path="")  # the bare form, like bare ``items``
        raise _envelope_error(url, "data", f"a user object, got {_describe_top(body)}")

    def employee(
        self, item: object, *, url: str, path: str, surrogate_free: bool = False
    ) -> Employee:
        """Decode one user object found at ``path``.

        Args:
            item: The user object.
            url: The URL it was read from, for errors.
            path: Its JSON path in the response, for errors.
            surrogate_free: The response is known to hold no lone surrogate (see
                :attr:`~lucca_sync._lucca._http.Reply.surrogate_free`): skip that check.

        Raises:
            ResponseDecodeError: The user is malformed; ``path`` points at the bad value.
        """
        if surrogate_free:
            employee = self.well_formed(item)
            if employee is not None:
                return employee
        employee_id = readable_id(item)
        try:
            if not isinstance(item, dict):
                raise WireError(f"expected a user object, got {json_type(item)}")
            unencodable = None if surrogate_free else _lone_surrogate(item)
            if unencodable is not None:
                # JSON may escape half a UTF-16 pair ("\ud800"); such text cannot be written
                # as UTF-8 (plan digest, JSON, CSV), so it is refused here, with its path.
                raise WireError("text that is not valid Unicode (a lone surrogate)", unencodable)
            return self._converter.structure(_normalise(item), Employee)
        except Exception as exc:  # every failure becomes a ResponseDecodeError, by design
            relative, reason = explain(exc, rename=lambda name: _WIRE_NAMES.get(name, name))
            where = ".".join(part for part in (path, relative) if part)
            who = f"user {employee_id}" if employee_id is not None else "a user without a usable id"
            raise ResponseDecodeError(
                # The path alone: the message lands in plans, whose digest must not depend on
                # the host or port the directory was read from.
                f"cannot read {who} from {urlsplit(url).path}: {where}: {reason}",
                url=url,
                path=where,
                employee_id=employee_id,
            ) from None

    def well_formed(self, item: object, keep_raw: bool = True) -> Employee | None:
        """The employee of a user in the usual shape, or ``None`` for anything else.

        The same result as the converter, several times faster (see docs/performance.md):
        only exact JSON types, ``manager`` as ``{id, …}`` or null, and parseable dates are
        taken here. Anything else goes through :meth:`employee`, which explains what is wrong
        with the exact path. Only for a response known to hold no lone surrogate (the
        ``surrogate_free`` of :meth:`employee`). Without ``keep_raw``, ``raw`` is `slim_raw`.
        """
        if type(item) is not dict:
            return None
        get = item.get
        employee_id, first_name, last_name = get("id"), get("firstName"), get("lastName")
        if type(employee_id) is not int or type(first_name) is not str:
            return None
        if type(last_name) is not str:
            return None
        email, login = get("mail"), get("login")
        number, job = get("employeeNumber"), get("jobTitle")
        if (
            (email is not None and type(email) is not str)
            or (login is not None and type(login) is not str)
            or (number is not None and type(number) is not str)
            or (job is not None and type(job) is not str)
        ):
            return None
        manager = get("manager", _ABSENT)
        if manager is _ABSENT:
            if (manager := _flat_manager_id(item)) is _ABSENT:
                return None
        elif manager is not None:
            if type(manager) is not dict or type(manager_id := manager.get("id")) is not int:
                return None
            manager = manager_id
        department, legal_entity = get("department"), get("legalEntity")
        if department is not None and (department := self._ref(department)) is None:
            return None
        if legal_entity is not None and (legal_entity := self._ref(legal_entity)) is None:
            return None
        start, end = get("dtContractStart"), get("dtContractEnd")
        modified = get("modifiedAt")
        if modified is None:
            modified = get("modifiedOn")
        dates = self._dates
        try:
            if start is not None:
                start = dates.get(start) or self._date(start)
            if end is not None:
                end = dates.get(end) or self._date(end)
            if modified is not None:
                # Lucca sends naive local times; an offset is converted as the converter does.
                modified = datetime.fromisoformat(modified)
                if modified.tzinfo is not None:
                    modified = modified.astimezone(self._zone).replace(tzinfo=None)
        # TypeError: not text, or unhashable; OverflowError: an offset past year 1 or 9999.
        except (WireError, TypeError, ValueError, OverflowError):
            return None
        extended = get("extendedData")
        if extended:
            if type(extended) is not dict:
                return None
            custom = {}
            for code, entry in extended.items():
                value = unwrap(entry)
                if value is not None:
                    custom[code] = value
            extended = MappingProxyType(custom) if custom else _NO_CUSTOM_FIELDS
        elif extended is None or type(extended) is dict:
            extended = _NO_CUSTOM_FIELDS
        else:
            return None
        # The decoded JSON belongs to this read: shared, not copied.
        raw = MappingProxyType(item) if keep_raw else slim_raw(item)
        # Positional, in Employee's field order: keywords cost a third of the call (0.05 s for
        # 100,000 employees); the tests compare every attribute with the converter's result.
        return Employee(
            employee_id, first_name, last_name, email, login, number, job, manager,
            department, legal_entity, start, end, modified, extended, raw,
        )  # fmt: skip

    def _ref(self, value: object) -> Ref | None:
        """A well-formed ``{id, name}`` reference, shared between employees; else ``None``."""
        if type(value) is not dict:
            return None
        ref_id, name = value.get("id"), value.get("name")
        if type(ref_id) is not int or type(name) is not str:
            return None
        ref = self._refs.get(ref_id)
        if ref is None or ref.name != name:
            # Keyed by id alone: a renamed copy replaces the cached one, and both stay right.
            ref = self._refs[ref_id] = Ref(ref_id, name)
        return ref

    def _date(self, value: object) -> date:
        """A contract date (shared); raises WireError as the converter's hook does."""
        if type(value) is not str:
            return self._to_datetime(value, date).date()  # raises: not a string
        day = self._dates.get(value)
        if day is None:
            day = self._dates[value] = self._to_datetime(value, date).date()
        return day


_NO_CUSTOM_FIELDS: Final[Mapping[str, object]] = MappingProxyType({})


class _Absent(enum.Enum):
    """The type of `_ABSENT`: a key the user does not have (JSON ``false`` is a value)."""

    ABSENT = enum.auto()


_ABSENT: Final = _Absent.ABSENT


def _lone_surrogate(value: object, path: str = "") -> str | None:
    """The path of the first key or string in ``value`` that UTF-8 cannot encode, if any."""
    if isinstance(value, str):
        return None if value.isascii() or _encodable(value) else path
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and not _encodable(key):
                return path or "(a key)"
            found = _lone_surrogate(item, where)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _lone_surrogate(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def readable_id(item: object) -> int | None:
    """The user's id when it is a proper integer, else ``None``."""
    if isinstance(item, dict):
        value = item.get("id")
        if is_int(value):
            return cast(int, value)
    return None


def row_key(item: object) -> RowKey:
    """Identity of a row across pages: its id, or its whole JSON when the id is unreadable."""
    if type(item) is dict and type(employee_id := item.get("id")) is int:
        return employee_id  # the usual case, without the checks of readable_id
    employee_id = readable_id(item)
    if employee_id is not None:
        return employee_id
    try:
        return ("json", json.dumps(item, sort_keys=True, default=repr))
    except (TypeError, ValueError, RecursionError):
        return ("repr", repr(item))


def _normalise(item: Mapping[str, Any]) -> dict[str, object]:
    """The user object with its quirks resolved, keyed by the converter's wire names."""
    data: dict[str, object] = {name: item[name] for name in _COPIED if name in item}
    manager = _manager_id(item)
    if manager is not None:
        data["managerId"] = manager
    for name in ("modifiedAt", "modifiedOn"):
        if item.get(name) is not None:
            data["modifiedAt"] = item[name]
            break
    extended = item.get("extendedData")
    if extended is None:
        data.pop("extendedData", None)
    elif isinstance(extended, dict):
        data["extendedData"] = {
            code: value
            for code, value in ((code, unwrap(entry)) for code, entry in extended.items())
            if value is not None
        }
    else:
        raise WireError(
            f"expected an object of custom fields, got {json_type(extended)}", "extendedData"
        )
    data["raw"] = item
    return data


def _flat_manager_id(item: dict[str, object]) -> int | _Absent | None:
    """With no ``manager`` object: the one flat ``managerId`` key, in any casing, when it is an
    id or null (None too when there is none); `_ABSENT` for anything the converter decides
    (two such keys, a value that is not an id)."""
    keys = [key for key in item if key.lower() == "managerid"]
    if not keys:
        return None
    if len(keys) > 1:
        return _ABSENT
    manager = item[keys[0]]
    if manager is None or type(manager) is int:
        return manager
    return _ABSENT


def _manager_id(item: Mapping[str, Any]) -> object:
    """``manager.id`` first (consistently camelCase), then a flat ``managerId``/``managerID``."""
    if "manager" in item:
        manager = item["manager"]
        if manager is None:
            return None
        if isinstance(manager, dict) and "id" in manager:
            return _strict_id(manager["id"], "manager.id")
        raise WireError(f"expected a {{id, name}} object or null, got {json_type(manager)}",
                         "manager")  # fmt: skip
    for key, value in item.items():
        if key.lower() == "managerid":
            return None if value is None else _strict_id(value, key)
    return None


def _strict_id(value: object, path: str) -> int:
    try:
        return _strict_int(value, int)
    except WireError as exc:
        raise WireError(str(exc), path) from None


def unwrap(entry: object) -> object:
    """A custom field's value without Lucca's ``{id, value}`` wrappers.

    Objects with a ``value`` key are unwrapped (repeatedly); arrays (multi-valued fields) are
    unwrapped element by element, unset elements dropped; composite objects keep their keys
    with each sub-value unwrapped; bare values are kept. ``None`` means "not set": ``null``,
    ``{"value": null}`` and an empty array alike.
    """
    while isinstance(entry, dict) and "value" in entry:
        entry = entry["value"]
    if isinstance(entry, dict):
        return {
            key: value
            for key, value in ((key, unwrap(sub)) for key, sub in entry.items())
            if value is not None
        }
    if isinstance(entry, list):
        values = [value for value in (unwrap(element) for element in entry) if value is not None]
        return values or None
    return entry


def _envelope_error(url: str, path: str, expected: str) -> ResponseDecodeError:
    return ResponseDecodeError(
        f"unexpected response shape from {url}: {path}: expected {expected}; "
        "is the URL a Lucca tenant?",
        url=url,
        path=path,
    )


def _describe_top(body: object) -> str:
    if isinstance(body, dict):
        keys = ", ".join(sorted(str(key) for key in body)[:5])
        return f"an object with keys [{keys}]"
    return json_type(body)
