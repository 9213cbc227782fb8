"""The fast paths of the hot loop give exactly what the general paths give."""

from __future__ import annotations

import gc
import json
import threading
import weakref
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import attrs
import pytest

from lucca_sync import ClientCredentials, Employee, LuccaDirectory, Ref, plan
from lucca_sync._engine._gc import collector_paused
from lucca_sync._lucca._http import surrogate_free
from lucca_sync._lucca._lucca_api import LuccaApiReader, _Join, _Lookups
from lucca_sync._lucca._v3 import V3Decoder
from lucca_sync.elevo import ElevoSink, StateRecoveryError
from lucca_sync.elevo import _state as elevo_state
from lucca_sync.exceptions import MappingError, ResponseDecodeError
from lucca_sync.mapping import Field, FieldMapping, upper
from lucca_sync.testing import FakeLucca, MemorySink, generate_company, make_lucca_user

TODAY = date(2025, 3, 10)
DECODER = V3Decoder(ZoneInfo("Europe/Paris"))
USERS = generate_company(300, seed=3, today=TODAY)


def _decode(user: object, *, fast: bool) -> Employee:
    return DECODER.employee(user, url="https://x/api/v3/users", path="p", surrogate_free=fast)


class TestWellFormedUsers:
    """Users decoded without the converter equal those decoded with it."""

    @pytest.mark.parametrize(
        "changes",
        [
            {},
            {"extendedData": None},
            {"extendedData": {"e_a": {"id": 1, "value": None}, "e_b": [{"value": 2}]}},
            {"modifiedAt": None, "modifiedOn": "2024-01-02T03:04:05+02:00"},
            {"manager": None, "department": None, "legalEntity": None, "mail": None},
            {"dtContractEnd": "2024-12-31T00:00:00"},
        ],
    )
    def test_a_variant_decodes_like_the_converter(self, changes: dict[str, object]) -> None:
        user = {**make_lucca_user(), **changes}
        fast, general = _decode(user, fast=True), _decode(user, fast=False)
        assert attrs.asdict(fast, recurse=False) == attrs.asdict(general, recurse=False)

    @pytest.mark.parametrize(
        "changes",
        [
            {"managerId": 12},
            {"managerID": 12},
            {"ManagerId": 12},
            {"managerId": None},
            {},  # no manager at all
            {"modifiedAt": "2024-01-02T03:04:05+02:00"},
            {"modifiedAt": "2024-07-02T03:04:05.123Z"},
        ],
    )
    def test_shapes_of_other_servers_take_the_fast_path(self, changes: dict[str, object]) -> None:
        # A stub that sends a flat manager id instead of the manager object, or times with
        # an offset, is decoded by hand too, with the converter's result.
        user = {**make_lucca_user(), **changes}
        if "modifiedAt" not in changes:
            del user["manager"]
            for key in {"managerId", "managerID"} - set(changes):
                user.pop(key, None)
        assert DECODER.well_formed(user) is not None
        fast, general = _decode(user, fast=True), _decode(user, fast=False)
        assert attrs.asdict(fast, recurse=False) == attrs.asdict(general, recurse=False)

    @pytest.mark.parametrize(
        "changes",
        [
            {"managerId": 12, "managerID": 13},  # two spellings: the converter decides
            {"ManagerId": 6, "managerId": 5},
            {"managerId": False, "managerID": 5},
            {"managerId": "12"},
            {"managerId": True},
            {"managerId": False},
        ],
    )
    def test_unusual_manager_keys_go_to_the_converter(self, changes: dict[str, object]) -> None:
        user = {**make_lucca_user(), **changes}
        del user["manager"]
        if "managerId" not in changes:
            user.pop("managerId", None)
        assert DECODER.well_formed(user) is None

    def test_a_manager_sent_as_false_goes_to_the_converter(self) -> None:
        # JSON false is a value, not an absent key: the converter refuses it.
        user = {**make_lucca_user(), "manager": False, "managerId": 5}
        assert DECODER.well_formed(user) is None
        with pytest.raises(ResponseDecodeError, match=r"\.manager"):
            _decode(user, fast=False)

    def test_a_time_whose_offset_leaves_the_calendar_is_a_decode_error(self) -> None:
        user = {**make_lucca_user(id=5), "modifiedAt": "0001-01-01T00:00:00+01:00"}
        assert DECODER.well_formed(user) is None
        with pytest.raises(ResponseDecodeError, match=r"modifiedAt"):
            _decode(user, fast=True)

    def test_a_generated_company_decodes_like_the_converter(self) -> None:
        for user in json.loads(json.dumps(USERS)):
            fast, general = _decode(user, fast=True), _decode(user, fast=False)
            assert attrs.asdict(fast, recurse=False) == attrs.asdict(general, recurse=False)

    def test_an_unusual_shape_still_gets_the_converters_error_path(self) -> None:
        user = {**make_lucca_user(id=7), "department": {"id": "15", "name": "R&D"}}
        with pytest.raises(Exception, match=r"department\.id") as fast:
            _decode(user, fast=True)
        with pytest.raises(Exception, match=r"department\.id") as general:
            _decode(user, fast=False)
        assert str(fast.value) == str(general.value)


class TestSurrogateScan:
    """A page is exempted from the per-string check only when it cannot hold a surrogate."""

    @pytest.mark.parametrize(
        ("body", "free"),
        [
            ('{"a": "Agnès"}'.encode(), True),
            (b'{"a": "\\u00e9"}', True),
            (b'{"a": "\\ud800"}', False),
            (b'{"a": "\\uDFFF"}', False),
            (b'{"a": "\xed\xa0\x80"}', False),
            ('{"a": "힣"}'.encode(), True),  # U+D7A3: starts with 0xED, not a surrogate
            ('{"a": "x"}'.encode("utf-16"), False),
        ],
    )
    def test_the_scan_flags_every_way_to_a_lone_surrogate(self, body: bytes, free: bool) -> None:
        assert surrogate_free(body) is free


class TestMappingFastPath:
    """map() gives the record and the error that explain() describes."""

    def test_records_match_the_explanations(self) -> None:
        mapping = FieldMapping.elevo_default()
        for user in USERS:
            employee = _decode(user, fast=False)
            explained = mapping.explain(employee)
            errors = [e.error for e in explained if e.error is not None]
            if errors:
                with pytest.raises(MappingError) as raised:
                    mapping.map(employee)
                assert str(raised.value) == errors[0]
            else:
                expected = {e.key: e.value for e in explained if e.present}
                assert mapping.map(employee) == expected

    @pytest.mark.parametrize(
        "field",
        [
            Field("job_title"),
            Field("job_title", on_empty="leave"),
            Field("job_title", on_empty="default", default="Sans titre"),
            Field("department.name", on_empty="leave"),
            Field("contract_start"),
            Field("contract_end", on_empty="default", default="2999-12-31"),
        ],
    )
    def test_empty_and_date_values_follow_each_policy(self, field: Field) -> None:
        mapping = FieldMapping.elevo_default().with_field("custom_a", field)
        for employee in (
            Employee(id=1, first_name="A", last_name="B", email="a@example.com"),
            Employee(
                id=2,
                first_name="A",
                last_name="B",
                email="b@example.com",
                job_title="  ",
                department=Ref(1, "R&D"),
                contract_start=date(2020, 1, 2),
                contract_end=date(2030, 1, 2),
            ),
        ):
            expected = {e.key: e.value for e in mapping.explain(employee) if e.present}
            assert mapping.map(employee) == expected

    def test_a_date_written_to_a_checked_key_is_still_checked(self) -> None:
        mapping = FieldMapping.elevo_default().with_field("gender", Field("contract_start"))
        employee = Employee(
            id=3, first_name="A", last_name="B", email="c@example.com", contract_start=TODAY
        )
        [error] = [e.error for e in mapping.explain(employee) if e.error is not None]
        with pytest.raises(MappingError) as raised:
            mapping.map(employee)
        assert str(raised.value) == error

    def test_a_failed_map_leaves_no_reference_cycle(self) -> None:
        employee = Employee(id=5, first_name="A", last_name="B")  # no e-mail: Elevo refuses
        mapping = FieldMapping.elevo_default()
        alive = weakref.ref(employee)
        # Reference counting alone must free the employee: no collection may run meanwhile
        # (counting what gc.collect() frees would also count other threads' garbage).
        with collector_paused():
            try:
                mapping.map(employee)
            except MappingError:
                pass
            else:
                pytest.fail("the mapping should refuse an employee without e-mail")
            del employee
            assert alive() is None


class TestCollectorPaused:
    """The collector is paused inside the block and restored after it."""

    def test_the_collector_is_enabled_again_after_an_error(self) -> None:
        inside = []

        def fail() -> None:
            with collector_paused():
                inside.append(gc.isenabled())
                raise RuntimeError

        assert gc.isenabled()
        with pytest.raises(RuntimeError):
            fail()
        assert inside == [False]
        assert gc.isenabled()

    def test_a_disabled_collector_stays_disabled(self) -> None:
        gc.disable()
        try:
            with collector_paused():
                pass
            assert not gc.isenabled()
        finally:
            gc.enable()

    def test_nested_blocks_enable_it_once_the_outer_one_ends(self) -> None:
        with collector_paused():
            with collector_paused():
                pass
            assert not gc.isenabled()
        assert gc.isenabled()

    def test_a_thread_ending_first_leaves_the_others_paused(self) -> None:
        entered, release = threading.Event(), threading.Event()
        seen: list[bool] = []

        def later_plan() -> None:
            with collector_paused():
                entered.set()
                release.wait(timeout=10)
                seen.append(gc.isenabled())

        other = threading.Thread(target=later_plan)
        with collector_paused():  # this thread pauses first ...
            other.start()
            assert entered.wait(timeout=10)
        # ... and ends first: the other thread is still inside its own block.
        assert not gc.isenabled()
        release.set()
        other.join(timeout=10)
        assert seen == [False]
        assert gc.isenabled()


class TestSharedValues:
    """Departments, establishments and contract dates are decoded once and shared."""

    def test_equal_references_and_dates_are_one_object_with_the_converters_value(self) -> None:
        decoder = V3Decoder(ZoneInfo("Europe/Paris"))
        fields: dict[str, object] = {
            "department": {"id": 4, "name": "R&D"},
            "legalEntity": {"id": 9, "name": "Lucca SAS"},
            "dtContractStart": "2021-09-01T00:00:00",
        }
        first, second = (
            decoder.employee(
                {**make_lucca_user(id=user_id), **fields}, url="u", path="p", surrogate_free=True
            )
            for user_id in (1, 2)
        )
        general = _decode({**make_lucca_user(id=1), **fields}, fast=False)
        assert first.department is second.department
        assert first.legal_entity is second.legal_entity
        assert first.contract_start is second.contract_start
        assert (first.department, first.legal_entity, first.contract_start) == (
            general.department,
            general.legal_entity,
            general.contract_start,
        )

    def test_a_department_renamed_within_a_read_keeps_each_users_name(self) -> None:
        decoder = V3Decoder(ZoneInfo("Europe/Paris"))
        names = ["R&D", "Recherche", "R&D"]
        decoded = [
            decoder.employee(
                {**make_lucca_user(id=user_id), "department": {"id": 4, "name": name}},
                url="u",
                path="p",
                surrogate_free=True,
            )
            for user_id, name in enumerate(names, start=1)
        ]
        assert [employee.department for employee in decoded] == [Ref(4, name) for name in names]

    def test_a_date_that_is_not_text_still_goes_to_the_converter(self) -> None:
        user = {**make_lucca_user(id=3), "dtContractStart": 20210901}
        with pytest.raises(Exception, match=r"dtContractStart") as fast:
            _decode(user, fast=True)
        with pytest.raises(Exception, match=r"dtContractStart") as general:
            _decode(user, fast=False)
        assert str(fast.value) == str(general.value)


class TestEmployeesReleased:
    """The planner drops each employee once classified, with the same plan."""

    def test_earlier_employees_are_freed_while_later_ones_are_classified(self) -> None:
        users = generate_company(40, seed=5, today=TODAY)
        seen: list[weakref.ref[Employee]] = []
        alive_at_last: list[int] = []

        def watch(employee: Employee) -> str | None:
            seen.append(weakref.ref(employee))
            alive_at_last[:] = [len([ref for ref in seen[:-1] if ref() is not None])]
            return None

        def employees() -> list[Employee]:
            return [_decode(user, fast=True) for user in json.loads(json.dumps(users))]

        watched = plan(iter(employees()), MemorySink(), rules=(watch,), today=TODAY)
        assert len(seen) > 30
        assert alive_at_last == [0]
        same = plan(employees(), MemorySink(), rules=(watch,), today=TODAY)
        assert watched.digest == same.digest

    @pytest.mark.parametrize(("ticked_at", "warned"), [(None, True), (0, False), (-1, False)])
    def test_a_check_box_seen_on_any_employee_is_not_hidden(
        self, ticked_at: int | None, warned: bool
    ) -> None:
        employees = [
            Employee(id=i, first_name="A", last_name="B", email=f"a{i}@example.com")
            for i in range(1, 6)
        ]
        if ticked_at is not None:
            employees[ticked_at] = attrs.evolve(
                employees[ticked_at], extended_data={"e_skip_elevo_sync": False}
            )
        made = plan(employees, MemorySink(), today=TODAY)
        assert any("appears on no employee" in w for w in made.warnings) is warned


class TestCreatesTakeTheRecordAsItIs:
    """A create's fields are the mapped record in the mapping's order, read-only."""

    def test_fields_keep_the_mapping_order(self) -> None:
        employee = Employee(id=8, first_name="A", last_name="B", email="a@example.com")
        [create] = plan([employee], MemorySink(), today=TODAY).creates
        assert list(create.fields) == list(FieldMapping.elevo_default().map(employee))
        with pytest.raises(TypeError):
            create.fields["first_name"] = "C"  # type: ignore[index]


class TestCompiledMapping:
    """Mappings of plain attributes get a generated function; the others keep the loop."""

    def test_the_default_mapping_is_compiled_and_agrees_with_the_loop(self) -> None:
        mapping = FieldMapping.elevo_default()
        assert mapping._compiled is not None
        for user in USERS:
            employee = _decode(user, fast=True)
            compiled = mapping._compiled(employee)
            if compiled is not None:  # None: the loop maps this employee
                assert compiled == {e.key: e.value for e in mapping.explain(employee)}
                assert list(compiled) == list(mapping.map(employee))

    def test_a_mapping_with_a_transform_is_not_compiled(self) -> None:
        mapping = FieldMapping.elevo_default().with_field(
            "job_title", Field("job_title", transforms=[upper])
        )
        assert mapping._compiled is None


ZONE = ZoneInfo("Europe/Paris")
API_READER = LuccaApiReader(None, ZONE)  # type: ignore[arg-type]  # decoding only, no HTTP
API_LOOKUPS = _Lookups({"5": "Finance", "x": "Odd"}, {"1": "Paris"}, {"12": {"e_site": "Lyon"}})
EMPLOYMENT = {"id": "e1", "start": {"date": "2024-01-01"}, "end": None,
              "lastUpdatedAt": "2024-02-01T10:00:00Z"}  # fmt: skip
POSITION = {"id": "p1", "jobTitle": "Dev", "manager": {"id": "7"}, "department": {"id": "5"},
            "businessEstablishment": {"id": "1"},
            "lastUpdatedAt": "2024-03-01T10:00:00+01:00"}  # fmt: skip


def _api_item(**changes: object) -> dict[str, object]:
    return {"id": "12", "givenName": "Zoé", "familyName": "Dupont", "email": "z@a.example",
            "employeeNumber": "0012", "applicableEmployment": {"id": "e1"},
            "applicableJobPosition": {"id": "p1"}, "lastUpdatedAt": "2024-01-05T08:00:00Z",
            **changes}  # fmt: skip


def _both_ways(
    item: dict[str, object], employment: dict[str, object], position: dict[str, object]
) -> tuple[Employee | None, Employee | None]:
    """The fast path's employee and the converter's (None: it refused the record)."""
    join = _Join(API_READER, API_LOOKUPS, None, None, strict=True, keep_raw=True)  # type: ignore[arg-type]
    employments, positions = {"e1": employment}, {"p1": position}
    fast = join._well_formed(item, employments, positions)
    try:
        general = API_READER._employee(
            item, employments, positions, API_LOOKUPS, url="https://x/lucca-api/e", path="p"
        )
    except ResponseDecodeError:
        general = None
    return fast, general


def _converter_not_expected(*_: object, **__: object) -> Employee:
    raise AssertionError("an employee of the generated company went through the converter")


class TestLuccaApiFastPath:
    """Lucca API employees decoded by hand equal those decoded with the converter."""

    @pytest.mark.parametrize(
        ("changes", "employment", "position"),
        [
            ({}, {}, {}),
            ({"email": None, "employeeNumber": None, "lastUpdatedAt": None}, {}, {}),
            ({"applicableEmployment": None, "applicableJobPosition": None}, {}, {}),
            ({"id": "13"}, {"end": {"date": "2024-06-30"}, "lastUpdatedAt": None}, {}),
            ({}, {}, {"manager": None, "jobTitle": None, "lastUpdatedAt": "2024-03-01T10:00:00"}),
        ],
    )
    def test_a_variant_decodes_like_the_converter(
        self, changes: dict[str, object], employment: dict[str, object],
        position: dict[str, object],
    ) -> None:  # fmt: skip
        fast, general = _both_ways(
            _api_item(**changes), {**EMPLOYMENT, **employment}, {**POSITION, **position}
        )
        assert fast is not None
        assert general is not None
        assert attrs.asdict(fast, recurse=False) == attrs.asdict(general, recurse=False)

    @pytest.mark.parametrize(
        ("changes", "employment", "position"),
        [
            ({"id": "abc"}, {}, {}),
            ({"id": 12}, {}, {}),
            ({"givenName": None}, {}, {}),
            ({"email": 5}, {}, {}),
            ({"applicableEmployment": {"id": "e2"}}, {}, {}),
            ({"applicableJobPosition": "p1"}, {}, {}),
            ({"lastUpdatedAt": "yesterday"}, {}, {}),
            ({"lastUpdatedAt": "0001-01-01T00:00:00+01:00"}, {}, {}),
            ({}, {"start": None}, {}),
            ({}, {"start": {}}, {}),
            ({}, {"end": {"date": None}}, {}),
            ({}, {"start": {"date": "2024-13-01"}}, {}),
            ({}, {"id": 1}, {}),
            ({}, {}, {"department": {"id": "x"}}),
            ({}, {}, {"department": {"id": "9"}}),
            ({}, {}, {"businessEstablishment": None}),
            ({}, {}, {"manager": {"id": "seven"}}),
            ({}, {}, {"jobTitle": ["Dev"]}),
        ],
    )
    def test_an_odd_record_goes_to_the_converter(
        self, changes: dict[str, object], employment: dict[str, object],
        position: dict[str, object],
    ) -> None:  # fmt: skip
        fast, general = _both_ways(
            _api_item(**changes), {**EMPLOYMENT, **employment}, {**POSITION, **position}
        )
        assert fast is None
        assert general is None  # each of these is a decode error

    @pytest.mark.parametrize("keep_raw", [True, False])
    def test_a_generated_company_decodes_like_the_converter(
        self, keep_raw: bool, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with FakeLucca(USERS, today=TODAY) as fake:
            credential = ClientCredentials(
                fake.client_id, fake.client_secret, token_url=fake.token_url
            )

            def read() -> list[Employee]:
                directory = LuccaDirectory(fake.url, credential, requests_per_minute=10**6)
                pager = directory.list_employees(include_former=True, keep_raw=keep_raw)
                return list(pager)

            # Every employee of the company takes the fast path...
            monkeypatch.setattr(LuccaApiReader, "_employee", _converter_not_expected)
            fast = read()
            monkeypatch.undo()
            # ...and gets what the converter gives.
            monkeypatch.setattr(_Join, "_well_formed", lambda *_: None)
            general = read()
        assert len(fast) == len(USERS)
        assert [attrs.asdict(e, recurse=False) for e in fast] == [
            attrs.asdict(e, recurse=False) for e in general
        ]


class TestElevoStateReadOnce:
    """Planning against a folder target decodes the state file once, its digest check included."""

    def test_the_published_file_check_does_not_decode_the_state_again(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        (tmp_path / "drop").mkdir()
        sink = ElevoSink.to_directory(tmp_path / "drop", state_dir=tmp_path / "state")
        sink.begin()
        sink.create("1", {"email": "a@acme.example", "first_name": "A"})
        sink.commit()
        decoded: list[Path] = []
        real = elevo_state._decode

        def counting(path: Path, data: bytes) -> elevo_state.Snapshot:
            decoded.append(path)
            return real(path, data)

        monkeypatch.setattr(elevo_state, "_decode", counting)
        again = ElevoSink.to_directory(tmp_path / "drop", state_dir=tmp_path / "state")
        assert [user.key for user in again.users()] == ["1"]
        assert decoded == [again.state_path]
        # A state file rewritten since it was read (another recorded digest) is decoded again.
        again.close()
        store = elevo_state.StateStore(tmp_path / "state")
        assert store.load() is not None
        document = json.loads(again.state_path.read_bytes())
        document["sha256"] = "0" * 64
        again.state_path.write_text(json.dumps(document), encoding="utf-8")
        assert store.known_digests() == {"0" * 64}
        with pytest.raises(StateRecoveryError, match="not the last users file"):
            again.users()
