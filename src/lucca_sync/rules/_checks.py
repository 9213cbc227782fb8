"""Argument checks shared by the built-in rules: each appends ``"field: what is wrong"``."""

from __future__ import annotations

import re
from datetime import date, datetime

from lucca_sync.exceptions import ConfigurationError


def _raise_problems(rule: str, problems: list[str]) -> None:
    if problems:
        raise ConfigurationError(f"{rule}: " + "; ".join(problems), problems=tuple(problems))


def _check_text(problems: list[str], field: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{field}: expected a non-empty string")


def _check_path(problems: list[str], value: object) -> None:
    if not isinstance(value, str) or not value or any(not s for s in value.split(".")):
        problems.append(
            "path: expected a dotted path such as 'department.name' or "
            "'extendedData.e_contract_type'"
        )


def _check_days(problems: list[str], field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        problems.append(f"{field}: expected a whole number of days, 0 or more")


def _check_optional_today(problems: list[str], value: object) -> None:
    if value is not None and (not isinstance(value, date) or isinstance(value, datetime)):
        problems.append("today: expected a date (not a datetime) or None")


def _check_ids_or_names(problems: list[str], field: str, values: object) -> None:
    if not isinstance(values, tuple) or not values:
        problems.append(f"{field}: expected at least one id (integer) or name (string)")
        return
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
            problems.append(f"{field}: expected ids (integers) or names (strings)")
            return


def _check_rules(problems: list[str], values: object) -> None:
    if not isinstance(values, tuple) or not values:
        problems.append("rules: expected at least one rule")
    elif not all(callable(value) for value in values):
        problems.append("rules: expected rules (callables)")


def _check_rule(problems: list[str], field: str, value: object) -> None:
    if not callable(value):
        problems.append(f"{field}: expected a rule (a callable)")


def _check_id(problems: list[str], field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(f"{field}: expected an employee id (an integer)")


def _check_values(problems: list[str], values: object) -> None:
    if not isinstance(values, tuple) or not values:
        problems.append("values: expected at least one value")
    elif not all(isinstance(v, str | int | float) for v in values):
        problems.append("values: expected strings, numbers or booleans")


def _check_regex(problems: list[str], value: object) -> None:
    if not isinstance(value, str):
        problems.append("regex: expected a regular expression (a string)")
        return
    try:
        re.compile(value)
    except re.error as exc:
        problems.append(f"regex: not a valid regular expression ({exc})")


def _check_domains(problems: list[str], values: object) -> None:
    if not isinstance(values, tuple) or not values:
        problems.append("domains: expected at least one domain")
    elif not all(isinstance(d, str) and d.strip().lstrip("@") for d in values):
        problems.append("domains: expected domain names such as 'contractor.example'")
