"""What a read keeps of each user's JSON, and when ``plan()`` asks for less of it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any, Literal, cast

import attrs
import pytest

from lucca_sync import ApiKey, Employee, ExclusionRule, FieldMapping, LuccaDirectory, Plan, plan
from lucca_sync._employee import reads_raw, slim_raw
from lucca_sync._lucca._directory import EmployeePager
from lucca_sync.mapping import Coalesce, Computed, Constant, Lookup, Path, Template
from lucca_sync.rules import (
    DEFAULT_RULES,
    FieldEquals,
    all_of,
    any_of,
    departed,
    field_equals,
    field_is_null,
    field_matches,
    not_,
    skip_flag,
)
from lucca_sync.testing import FakeLucca, MemorySink, generate_company, make_lucca_user

TODAY = date(2025, 3, 10)
KEY = "r" * 32


class RecordingDirectory(LuccaDirectory):
    """A directory that remembers the ``keep_raw`` of each read."""

    asked: list[bool]

    def list_employees(self, **options: Any) -> EmployeePager:
        self.asked = [*getattr(self, "asked", []), options.get("keep_raw", True)]
        return super().list_employees(**options)


class Gendered(FieldEquals):
    """A subclass of a built-in rule that reads the raw JSON."""

    def __call__(self, employee: Employee, /) -> str | None:
        return "gender F" if employee.raw.get("gender") == "F" else None


def _read(fake: FakeLucca, *, keep_raw: bool) -> list[Employee]:
    directory = LuccaDirectory(fake.url, ApiKey(KEY), requests_per_minute=10**6)
    return list(directory.list_employees(include_former=True, keep_raw=keep_raw))


class TestListEmployeesWithoutRawJson:
    """``keep_raw=False`` keeps only ``extendedData`` as ``raw``; nothing else changes."""

    def test_every_attribute_but_raw_is_the_same(self) -> None:
        users = generate_company(300, seed=4, today=TODAY)
        # A shape the hand decoder leaves to the converter: a modification time with an offset.
        users.append(
            {
                **make_lucca_user(id=9002),
                "modifiedAt": None,
                "modifiedOn": "2024-01-02T03:04:05+02:00",
            }
        )
        with FakeLucca(users, api_key=KEY, today=TODAY) as fake:
            full, slim = _read(fake, keep_raw=True), _read(fake, keep_raw=False)
        assert len(slim) == len(users)
        for kept, left in zip(full, slim, strict=True):
            assert attrs.evolve(left, raw={}) == attrs.evolve(kept, raw={})
            assert left.extended_data == kept.extended_data
            assert dict(left.raw) == dict(slim_raw(kept.raw))

    def test_raw_holds_the_custom_fields_as_received(self) -> None:
        unset = {"id": 1, "value": None}
        user = make_lucca_user(id=5, extendedData={"e_skip_elevo_sync": unset, "e_site": "Lyon"})
        with FakeLucca([user], api_key=KEY, today=TODAY) as fake:
            (employee,) = _read(fake, keep_raw=False)
        assert dict(employee.raw) == {"extendedData": user["extendedData"]}
        assert "e_skip_elevo_sync" not in employee.extended_data  # its value is empty

    def test_a_user_without_custom_fields_keeps_nothing(self) -> None:
        with FakeLucca([make_lucca_user(id=6, extendedData={})], api_key=KEY) as fake:
            (employee,) = _read(fake, keep_raw=False)
        assert dict(employee.raw) == {}


class TestWhatReadsRawJson:
    """Paths, mapping sources and rules say whether they need more than ``extendedData``."""

    @pytest.mark.parametrize(
        ("path", "needs"),
        [
            ("job_title", False),
            ("department.name", False),
            ("extended_data.e_site", False),
            ("extendedData.e_site", False),
            ("raw.extendedData.e_site", False),
            ("extendedData", True),  # an empty extendedData is not kept
            ("raw.extendedData", True),
            ("legalEntity.name", True),
            ("gender", True),
            ("raw.gender", True),
            ("raw", True),
        ],
    )
    def test_a_path(self, path: str, needs: bool) -> None:
        assert reads_raw(path.split(".")) is needs

    @pytest.mark.parametrize(
        ("source", "needs"),
        [
            (Constant("x"), False),
            (Template("{first_name} {extendedData.e_site}"), False),
            (Template("{first_name} {legalEntity.name}"), True),
            (Lookup("department.name", {"R&D": "Tech"}), False),
            (Lookup("legalEntity.name", {"Paris": "FR"}), True),
            (Coalesce(["email", "login"]), False),
            (Coalesce(["email", "raw.personalEmail"]), True),
            (Computed(lambda employee: employee.first_name, name="first"), True),
        ],
    )
    def test_a_mapping_source(self, source: Any, needs: bool) -> None:
        mapping = FieldMapping.elevo_default().with_field("job_title", source)
        assert mapping._reads_raw() is needs

    def test_a_subclass_of_a_source_may_read_anything(self) -> None:
        class Mine(Path):
            def resolve(self, employee: Employee) -> object:
                return employee.raw.get("gender")

        mapping = FieldMapping.elevo_default().with_field("job_title", Mine("job_title"))
        assert mapping._reads_raw() is True

    def test_the_default_mapping_reads_typed_attributes_only(self) -> None:
        assert FieldMapping.elevo_default()._reads_raw() is False
        assert (
            FieldMapping.elevo_default().with_field("team", Path("legalEntity.name"))._reads_raw()
        )


def _planned(source: LuccaDirectory, **options: Any) -> Plan:
    return plan(source, MemorySink(), today=TODAY, **options)


def _content(made: Plan) -> dict[str, object]:
    data: dict[str, object] = json.loads(made.to_json())
    del data["created_at"], data["sync_state"]  # times of day
    return data


class TestPlanAsksForWhatItNeeds:
    """``plan()`` reads without raw JSON unless a rule or a mapping field could look at it."""

    @pytest.fixture
    def fake(self) -> Iterator[FakeLucca]:
        with FakeLucca(generate_company(120, seed=6, today=TODAY), api_key=KEY, today=TODAY) as f:
            yield f

    @pytest.mark.parametrize(
        ("rules", "keep_raw"),
        [
            (DEFAULT_RULES, False),
            ((skip_flag(), departed(30), field_equals("department.name", "R&D")), False),
            ((field_is_null("extendedData.e_site"),), False),
            ((field_is_null("extendedData"),), True),
            ((Gendered("job_title", ("Dev",)),), True),
            ((field_matches("legalEntity.name", "^Paris"),), True),
            ((any_of(skip_flag(), field_equals("gender", "F")),), True),
            ((all_of(skip_flag(), not_(field_is_null("raw.gender"))),), True),
            ((lambda employee: None,), True),
        ],
    )
    def test_by_rules(
        self, fake: FakeLucca, rules: tuple[ExclusionRule, ...], keep_raw: bool
    ) -> None:
        directory = RecordingDirectory(fake.url, ApiKey(KEY), requests_per_minute=10**6)
        _planned(directory, rules=rules)
        assert directory.asked == [keep_raw]

    def test_by_a_mapping_field_of_the_raw_json(self, fake: FakeLucca) -> None:
        directory = RecordingDirectory(fake.url, ApiKey(KEY), requests_per_minute=10**6)
        mapping = FieldMapping.elevo_default().with_field("job_title", "legalEntity.name")
        made = _planned(directory, mapping=mapping)
        assert directory.asked == [True]
        titles = {create.fields.get("job_title") for create in made.creates}
        names = {cast(dict[str, str], user["legalEntity"])["name"] for user in fake.users}
        assert titles == names

    def test_a_check_box_sent_empty_is_still_seen(self) -> None:
        # No box is ticked; each is sent empty. Telling that from a box the key cannot see
        # (the "appears on no employee" warning) needs the extendedData kept as received.
        shapes: tuple[Literal["null", "object-null"], ...] = ("null", "object-null")
        users = [
            make_lucca_user(id=n, skip_flag=None, flag_unset=shape)
            for n, shape in enumerate(shapes * 20, start=1)
        ]
        with FakeLucca(users, api_key=KEY, today=TODAY) as fake:
            directory = RecordingDirectory(fake.url, ApiKey(KEY), requests_per_minute=10**6)
            slim = _planned(directory)
            kept = _planned(directory, rules=(*DEFAULT_RULES, lambda employee: None))
        assert directory.asked == [False, True]
        assert not any("appears on no employee" in warning for warning in slim.warnings)
        assert _content(slim) == _content(kept)

    def test_an_absent_check_box_is_still_reported(self) -> None:
        users = [make_lucca_user(id=n, skip_flag=None, flag_unset="absent") for n in range(1, 9)]
        with FakeLucca(users, api_key=KEY, today=TODAY) as fake:
            directory = LuccaDirectory(fake.url, ApiKey(KEY), requests_per_minute=10**6)
            slim = _planned(directory)
        assert any("appears on no employee" in warning for warning in slim.warnings)
