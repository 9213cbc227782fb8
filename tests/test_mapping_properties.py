"""Property tests: mapping is deterministic and fails only with MappingError, whatever the data."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from lucca_sync import Employee, FieldMapping, Ref
from lucca_sync.exceptions import MappingError
from lucca_sync.mapping import (
    Coalesce,
    Constant,
    Field,
    Lookup,
    Template,
    date_format,
    lower,
    normalize_diacritics,
    regex_replace,
    strip,
    title,
    truncate,
    upper,
)

_KEYS = st.sampled_from(["value", "id", "name", "e_site", "e_city", "x"])
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["2014-09-01T00:00:00", "2014-09-01", "Male", "Female", "80", "a@b.example"]),
)
_JSON = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_KEYS, children, max_size=3),
    max_leaves=8,
)
_TEXT = st.text(max_size=20)
# Mostly well-formed logins, so that both the success and the failure paths are exercised.
_EMAILS = st.one_of(st.emails(), st.emails(), st.emails(), st.none(), _TEXT)
_LOGINS = st.one_of(*[st.from_regex(r"[A-Za-z0-9._-]{1,10}", fullmatch=True)] * 3, st.none(), _TEXT)
_DATES = st.none() | st.dates(min_value=date(1, 1, 1))
_REFS = st.none() | st.builds(Ref, id=st.integers(), name=_TEXT)


@st.composite
def employees(draw: st.DrawFn) -> Employee:
    """Arbitrary employees, including odd extended data and raw JSON."""
    raw: dict[str, Any] = draw(st.dictionaries(_KEYS, _JSON, max_size=3))
    for key in ("extendedData", "legalEntity", "gender", "dtContractStart"):
        if draw(st.booleans()):
            raw[key] = draw(_JSON)
    return Employee(
        id=draw(st.integers()),
        first_name=draw(_TEXT),
        last_name=draw(_TEXT),
        email=draw(_EMAILS),
        login=draw(_LOGINS),
        employee_number=draw(st.none() | _TEXT),
        job_title=draw(st.none() | _TEXT),
        manager_id=draw(st.none() | st.integers()),
        department=draw(_REFS),
        legal_entity=draw(_REFS),
        contract_start=draw(_DATES),
        contract_end=draw(_DATES),
        modified_at=draw(st.none() | st.datetimes(min_value=datetime(1, 1, 1))),
        extended_data=draw(st.dictionaries(_KEYS, _JSON, max_size=3)),
        raw=raw,
    )


KITCHEN_SINK = (
    FieldMapping.elevo_default()
    .with_field("username", "login")
    .with_field("custom_site", Field("extendedData.e_site", transforms=(strip, truncate(5), upper)))
    .with_field(
        "custom_city",
        Field("extendedData.x.e_city", transforms=(normalize_diacritics, title), on_empty="leave"),
    )
    .with_field("custom_start", Field("dtContractStart", transforms=(date_format("%d/%m/%Y"),)))
    .with_field(
        "team_name", Template("{department.name} - {legalEntity.name} {extended_data.e_site}")
    )
    .with_field("gender", Lookup("gender", {"Male": "m", "Female": "f"}, default="other"))
    .with_field("working_time_ratio", Field(Coalesce(["extended_data.value", Constant(100)])))
    .with_field(
        "custom_mixed",
        Field(
            Coalesce(["raw.x", "extended_data.id", "job_title"]),
            transforms=(lower, regex_replace(r"\s+", "_")),
        ),
    )
    .with_field(
        "custom_default", Field("raw.name", on_empty="default", default="n/a", apply="create_only")
    )
)


@given(employees())
def test_default_mapping_is_deterministic_and_fails_only_with_mapping_error(
    employee: Employee,
) -> None:
    _check(FieldMapping.elevo_default(), employee)


@given(employees())
def test_rich_mapping_is_deterministic_and_fails_only_with_mapping_error(
    employee: Employee,
) -> None:
    _check(KITCHEN_SINK, employee)


def _check(mapping: FieldMapping, employee: Employee) -> None:
    try:
        first: dict[str, str | None] | MappingError = mapping.map(employee)
    except MappingError as error:
        first = error
    try:
        second: dict[str, str | None] | MappingError = mapping.map(employee)
    except MappingError as error:
        second = error
    explanations = mapping.explain(employee)
    failed = [e for e in explanations if e.error is not None]
    if isinstance(first, MappingError):
        assert isinstance(second, MappingError)
        assert (str(first), first.field, first.employee_id) == (
            str(second),
            second.field,
            second.employee_id,
        )
        assert first.employee_id == employee.id
        assert failed
        assert failed[0].key == first.field
        return
    assert first == second
    assert not failed
    assert first == {e.key: e.value for e in explanations if e.present}
    assert first["uniq_identifier"] == str(employee.id)
    assert all(value is None or isinstance(value, str) for value in first.values())
    assert set(first) <= mapping.target_keys
