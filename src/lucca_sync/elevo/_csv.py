"""Elevo's users file: its columns, rendering, per-record validation and the adoption export.

The format is the SFTP users snapshot of ``shared/reference/elevo.md`` §5.2: UTF-8 without a
byte-order mark, RFC 4180 (comma, double quotes, CRLF line ends), a header row, one row per user.
Column and row order are free for Elevo; both are fixed here so that the same state always gives
the same bytes (and the same digest).
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path

import attrs

from lucca_sync.exceptions import ConfigurationError, SinkError

__all__ = [
    "COLUMNS",
    "KEY",
    "MANAGER",
    "SKIP",
    "ExportRow",
    "FileRow",
    "accepts_field",
    "check_record",
    "read_export",
    "render",
    "row_order",
]

KEY = "uniq_identifier"
MANAGER = "manager_uniq_identifier"
SKIP = "skip"
#: The value written in the ``skip`` column (Elevo also reads ``yes`` / ``Oui``).
SKIP_VALUE = "true"

#: Every fixed column, in the order of the file: the two identifiers, then Elevo's SFTP template
#: order. ``custom_*`` columns follow in alphabetical order, ``skip`` comes last.
COLUMNS: tuple[str, ...] = (
    KEY,
    MANAGER,
    "registration_number",
    "first_name",
    "last_name",
    "email",
    "username",
    "job_title",
    "team_name",
    "work_start_date",
    "level",
    "department",
    "service",
    "gender",
    "region",
    "entity",
    "locale",
    "working_time_ratio",
    "use_sso",
)
_FIXED = frozenset(COLUMNS)
_CUSTOM = re.compile(r"custom_[a-z0-9_]+")
# Deliberately simple: one "@", no spaces, a dot in the domain. Elevo's own check is unknown;
# this catches typos and truncations, not every RFC 5322 oddity.
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
_USERNAME = re.compile(r"[A-Za-z0-9._-]+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_LOGINS = ("email", "username")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
# What no value may hold, found in one search: NUL; every character that ends a line for some
# reader (CSV quoting protects CR and LF from an RFC 4180 parser, but a reader that splits lines
# first, like str.splitlines() and many import tools, also breaks at the others and would see
# half a user on each line); and lone surrogates, which JSON lets Lucca send ("\ud800") and
# UTF-8 cannot carry.
_UNSAFE = re.compile("[\x00\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\ud800-\udfff]")
_LINE_BREAK_NAMES = {
    "\n": "a line feed",
    "\r": "a carriage return",
    "\x85": "a next-line character (U+0085)",
    "\u2028": "a line separator (U+2028)",
    "\u2029": "a paragraph separator (U+2029)",
}


def accepts_field(name: str) -> bool:
    """Whether ``name`` is a column of Elevo's users file that a mapping may fill."""
    return name in _FIXED or _CUSTOM.fullmatch(name) is not None


def _column_rank(name: str) -> tuple[int, str]:
    if name in _FIXED:
        return (COLUMNS.index(name), "")
    return (len(COLUMNS), name)


def row_order(key: str) -> tuple[int, int, str]:
    """Sort key of rows: numeric identifiers (Lucca ids) numerically, then others as text."""
    if key.isascii() and key.isdigit():
        return (0, int(key), key)
    return (1, 0, key)


@attrs.frozen
class FileRow:
    """One row of the file: a full record, or a ``skip`` row carrying only the identifier."""

    key: str
    fields: Mapping[str, str | None] = attrs.field(factory=dict, hash=False)
    skip: bool = False


def render(rows: Iterable[FileRow]) -> bytes:
    """Render rows as the bytes of Elevo's users file.

    The header holds ``uniq_identifier`` and ``manager_uniq_identifier``, every other column a
    full row fills, and ``skip`` when there is a skip row. Rows are sorted by identifier.

    Raises:
        SinkError: Two rows share a ``uniq_identifier`` — Elevo would cancel the whole run, so
            nothing must be published.
    """
    ordered = sorted(rows, key=lambda row: row_order(row.key))
    seen: set[str] = set()
    for row in ordered:
        if row.key in seen:
            raise SinkError(
                f"two rows of the Elevo file have uniq_identifier {row.key!r}; Elevo would "
                "cancel the whole run, so nothing was published",
                key=row.key,
            )
        seen.add(row.key)
    names = {KEY, MANAGER}
    for row in ordered:
        if not row.skip:
            names.update(row.fields)
    header = sorted(names, key=_column_rank)
    if any(row.skip for row in ordered):
        header.append(SKIP)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(header)
    for row in ordered:
        if row.skip:
            values: Mapping[str, str | None] = {KEY: row.key, SKIP: SKIP_VALUE}
        else:
            values = {**row.fields, KEY: row.key}
        writer.writerow([values.get(name) or "" for name in header])
    return buffer.getvalue().encode("utf-8")


def check_record(key: str, fields: Mapping[str, str | None]) -> str | None:
    """The first reason Elevo would reject this record's row, or ``None`` when it looks valid.

    Reasons name the column, never its value (values are personal data). References to
    managers and uniqueness across the file are checked by the sink, which sees every row.
    """
    if not key or key != key.strip() or _CONTROL.search(key):
        return (
            "uniq_identifier is empty, has surrounding spaces or a control character "
            "(Elevo compares identifiers as text)"
        )
    for name, value in fields.items():
        if value is None or (found := _UNSAFE.search(value)) is None:
            continue
        char = found.group()
        if char == "\x00":
            return f"{name} contains a NUL character"
        if "\ud800" <= char <= "\udfff":
            return f"{name} is not valid Unicode text (it holds a lone surrogate)"
        what = _LINE_BREAK_NAMES.get(char, "a control character that ends a line for some readers")
        return (
            f"{name} contains {what}: the users file needs each user on one line for every "
            "reader; remove it in Lucca (or strip it in the mapping)"
        )
    email = fields.get("email") or ""
    username = fields.get("username") or ""
    if not email and not username:
        return "email and username are both empty; Elevo needs one of them as the login"
    if email and _EMAIL.fullmatch(email) is None:
        return "email is not a valid e-mail address"
    if username and _USERNAME.fullmatch(username) is None:
        return "username may only contain letters, digits, '.', '-' and '_'"
    start = fields.get("work_start_date") or ""
    if start and not _is_iso_date(start):
        return "work_start_date is not a date written YYYY-MM-DD"
    ratio = fields.get("working_time_ratio") or ""
    if ratio and not _is_ratio(ratio):
        return "working_time_ratio is not a number between 0 and 100"
    if fields.get(MANAGER) == key:
        return "manager_uniq_identifier is the user's own uniq_identifier"
    return None


def _is_iso_date(value: str) -> bool:
    if _DATE.fullmatch(value) is None:
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_ratio(value: str) -> bool:
    try:
        number = float(value)
    except ValueError:
        return False
    return math.isfinite(number) and 0 <= number <= 100


@attrs.frozen
class ExportRow:
    """One user of an Elevo directory export, as read for adoption."""

    key: str
    fields: Mapping[str, str | None] = attrs.field(hash=False)
    line: int


def read_export(path: Path) -> list[ExportRow]:
    """Read an export of Elevo's directory (CSV whose header uses the import keys).

    A UTF-8 byte-order mark is tolerated (spreadsheet exports add one), and the separator may be
    a comma, a semicolon or a tab. Columns that are not Elevo keys are ignored. A user's key is
    its ``uniq_identifier`` when the export has one, else ``export:`` followed by a digest of
    its e-mail (or username) in lower case: stable, and free of personal data.

    Raises:
        ConfigurationError: The file cannot be read, has no ``email``/``username``/
            ``uniq_identifier`` column, has a row without any identifier, or repeats an
            identifier or an e-mail. Every problem is listed with its line number.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"cannot read the Elevo export {path}: {exc.__class__.__name__}; "
            "expected a UTF-8 CSV file"
        ) from exc
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [name.strip().lower() for name in next(reader, [])]
        records = [(reader.line_num, record) for record in reader]
    except csv.Error as exc:
        raise ConfigurationError(
            f"the Elevo export {path} is not a readable CSV file near line {reader.line_num}: {exc}"
        ) from exc
    repeated = sorted({name for name in header if name and header.count(name) > 1})
    if repeated:
        raise ConfigurationError(
            f"the Elevo export {path} repeats the column(s) {', '.join(repeated)}; "
            "each Elevo key may appear once"
        )
    if not {KEY, "email", "username"} & set(header):
        raise ConfigurationError(
            f"the Elevo export {path} has no uniq_identifier, email or username column; "
            "its header must use Elevo's import keys (email, registration_number, ...)"
        )
    problems: list[str] = []
    rows: list[ExportRow] = []
    seen: dict[tuple[str, str], int] = {}
    for line, record in records:
        if not any(cell.strip() for cell in record):
            continue
        values = {
            name: (cell.strip() or None)
            for name, cell in zip(header, record, strict=False)
            if accepts_field(name)
        }
        key = _export_key(values)
        if key is None:
            problems.append(f"{path}:{line}: no uniq_identifier, email or username")
            continue
        claims = [
            (column, str(values[column]).casefold()) for column in _LOGINS if values.get(column)
        ]
        if values.get(KEY):
            claims.append((KEY, key))
        for claim in claims:
            if claim in seen:
                problems.append(f"{path}:{line}: same {claim[0]} as line {seen[claim]}")
            seen[claim] = line
        rows.append(ExportRow(key=key, fields=values, line=line))
    if problems:
        raise ConfigurationError(
            f"the Elevo export {path} cannot be used for adoption: " + "; ".join(problems),
            problems=tuple(problems),
        )
    return rows


def _export_key(values: Mapping[str, str | None]) -> str | None:
    if values.get(KEY):
        return str(values[KEY])
    # Keys show up in plans, reports and logs: a digest keeps the e-mail address out of them.
    for column in _LOGINS:
        if values.get(column):
            login = f"{column}:{str(values[column]).casefold()}".encode()
            return "export:" + hashlib.sha256(login).hexdigest()[:16]
    return None
