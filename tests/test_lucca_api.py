"""Reading the Lucca API (/lucca-api, OAuth2) into the same Employee values as the v3 API."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, datetime
from math import ceil
from typing import cast
from zoneinfo import ZoneInfo

import attrs
import pytest

from lucca_sync import ApiKey, ClientCredentials, Employee, LuccaDirectory, Ref, apply, plan
from lucca_sync._lucca._lucca_api import LuccaApiReader, _Lookups
from lucca_sync.exceptions import (
    BadRequestError,
    ConfigurationError,
    NotFoundError,
    PermissionDeniedError,
    ResponseDecodeError,
    ServerError,
)
from lucca_sync.testing import FakeLucca, MemorySink, generate_company, make_lucca_user

TODAY = date(2025, 3, 1)


def comparable(employees: list[Employee]) -> list[Employee]:
    # The Lucca API has no login; everything else must match field for field.
    return [attrs.evolve(employee, login=None) for employee in employees]


def new_api(fake: FakeLucca, **options: object) -> LuccaDirectory:
    credential = ClientCredentials(fake.client_id, fake.client_secret, token_url=fake.token_url)
    return LuccaDirectory(fake.url, credential, retries=0, **options)  # type: ignore[arg-type]


def legacy(fake: FakeLucca) -> LuccaDirectory:
    return LuccaDirectory(fake.url, ApiKey(fake.api_key))


@pytest.fixture
def company() -> Iterator[FakeLucca]:
    with FakeLucca(generate_company(400, today=TODAY), today=TODAY) as fake:
        yield fake


class TestEquivalence:
    """The same company read through both APIs gives equal employees."""

    @pytest.mark.parametrize("include_former", [False, True])
    def test_both_apis_give_the_same_employees(
        self, company: FakeLucca, include_former: bool
    ) -> None:
        old = list(legacy(company).list_employees(include_former=include_former, today=TODAY))
        new = list(new_api(company).list_employees(include_former=include_former, today=TODAY))
        assert comparable(new) == comparable(old)
        assert any(e.extended_data.get("e_skip_elevo_sync") is True for e in new)
        assert any(e.manager_id is not None for e in new)
        assert all(e.login is None for e in new)

    def test_without_raw_json_only_raw_differs(self, company: FakeLucca) -> None:
        full = list(new_api(company).list_employees(today=TODAY))
        light = list(new_api(company).list_employees(today=TODAY, keep_raw=False))
        assert light == full
        assert all(employee.raw for employee in full)
        # The Lucca API's employee resource has no extendedData: nothing of it is kept.
        assert all(dict(employee.raw) == {} for employee in light)

    def test_fields_come_from_the_right_resources(self) -> None:
        user = make_lucca_user(
            id=7, firstName="Zoé", lastName="N'Diaye", jobTitle="Comptable", manager=3,
            department={"id": 12, "name": "Finance"}, legalEntity={"id": 2, "name": "Acme Lyon"},
            dtContractStart=date(2020, 1, 6), dtContractEnd=date(2026, 1, 5), skip_flag=True,
            modifiedAt="2025-01-10T09:30:00.000",
        )  # fmt: skip
        boss = make_lucca_user(id=3)
        with FakeLucca([boss, user], today=TODAY) as fake:
            employee = new_api(fake).get_employee(7)
        assert (employee.id, employee.first_name, employee.last_name) == (7, "Zoé", "N'Diaye")
        assert employee.job_title == "Comptable"
        assert employee.manager_id == 3
        assert (employee.department, employee.legal_entity) == (
            Ref(id=12, name="Finance"),
            Ref(id=2, name="Acme Lyon"),
        )
        assert (employee.contract_start, employee.contract_end) == (
            date(2020, 1, 6), date(2026, 1, 5),
        )  # fmt: skip
        assert employee.extended_data == {"e_skip_elevo_sync": True}
        # lastUpdatedAt is UTC on the wire; handed out as naive Paris time like v3.
        assert employee.modified_at == datetime(2025, 1, 10, 9, 30)
        assert employee.raw["id"] == "7"

    def test_a_plan_is_the_same_through_both_apis(self, company: FakeLucca) -> None:
        old = plan(legacy(company), MemorySink(), today=TODAY)
        new = plan(new_api(company), MemorySink(), today=TODAY)
        assert new.counts == old.counts
        assert [c.key for c in new.creates] == [c.key for c in old.creates]
        assert [e.employee_id for e in new.exclusions] == [e.employee_id for e in old.exclusions]


class TestIncrementalModes:
    """The Lucca API cannot filter on changes: "auto" reads everyone, "incremental" refuses."""

    def test_auto_mode_falls_back_to_full_reads(self, company: FakeLucca) -> None:
        sink = MemorySink()
        directory = new_api(company)
        apply(plan(directory, sink, mode="auto", today=TODAY), sink)
        again = plan(directory, sink, mode="auto", today=TODAY)
        assert again.is_empty
        assert (again.stats.mode, again.stats.mode_reason) == (
            "full",
            "this source cannot read changes only",
        )

    def test_incremental_mode_is_a_configuration_error(self, company: FakeLucca) -> None:
        with pytest.raises(ConfigurationError, match="ApiKey"):
            plan(new_api(company), MemorySink(), mode="incremental", today=TODAY)


class TestRequests:
    """Collections are read in bulk: the request count does not grow per employee."""

    @pytest.mark.parametrize("size", [1, 100, 101, 1000])
    def test_request_count(self, size: int) -> None:
        users = generate_company(size, today=TODAY)
        values = sum(len(cast(dict[str, object], u["extendedData"])) for u in users)
        with FakeLucca(users, today=TODAY) as fake:
            pager = new_api(fake).list_employees(include_former=True, today=TODAY)
            assert len(list(pager)) == size
        # employees pages + departments + establishments + custom-field pages
        assert pager.requests_made == ceil(size / 100) + 2 + max(1, ceil(values / 100))

    def test_without_embedded_resources_each_page_costs_two_bulk_requests(
        self, company: FakeLucca
    ) -> None:
        company.lucca_api.embed = False
        directory = new_api(company, custom_fields=())
        old = list(legacy(company).list_employees(today=TODAY))
        employees = list(directory.list_employees(today=TODAY))
        assert comparable(employees) == [attrs.evolve(e, login=None, extended_data={})
                                          for e in old]  # fmt: skip
        pages = ceil(len([r for r in company.requests if r.path == "/lucca-api/employees"]))
        bulk = [r for r in company.requests if r.path == "/lucca-api/employments"]
        assert len(bulk) == pages
        assert all(len(r.param("id").split(",")) <= 100 for r in bulk)  # type: ignore[union-attr]

    def test_query_of_the_employee_list(self, company: FakeLucca) -> None:
        list(new_api(company).list_employees(today=TODAY))
        first = next(r for r in company.requests if r.path == "/lucca-api/employees")
        assert first.param("status") == "active,upcoming"
        assert first.param("limit") == "100"
        includes = set(first.param("include").split(","))  # type: ignore[union-attr]
        assert includes == {"embedded", "links", "totalCount"}
        assert first.headers["Api-Version"] == "2024-11-01"
        assert first.headers["Authorization"] == "Bearer ***"
        list(new_api(company).list_employees(include_former=True, today=TODAY))
        last = [r for r in company.requests if r.path == "/lucca-api/employees"][-1]
        assert last.param("status") == "active,upcoming,deactivated"

    def test_custom_fields_restrict_the_extension_read(self, company: FakeLucca) -> None:
        directory = new_api(company, custom_fields=["e_skip_elevo_sync"])
        employees = list(directory.list_employees(today=TODAY))
        assert {code for e in employees for code in e.extended_data} == {"e_skip_elevo_sync"}
        read = next(r for r in company.requests if r.path == "/lucca-api/employee-extensions")
        assert read.param("extensionDefinition.id") == "e_skip_elevo_sync"


class TestCompleteness:
    """A cursor read that fails part-way raises instead of returning fewer employees."""

    def test_a_failure_on_a_later_page_raises(self, company: FakeLucca) -> None:
        pager = new_api(company).list_employees(today=TODAY)
        pages = pager.by_page()
        next(pages)
        company.fail_next(503, path="/lucca-api/employees")
        with pytest.raises(ServerError):
            list(pages)

    def test_a_next_link_to_another_host_is_refused(self, company: FakeLucca) -> None:
        def rewrite(request: object) -> None:
            company.lucca_api._fake = _OtherHost(company)  # type: ignore[assignment]

        company.before_response = rewrite
        with pytest.raises(ResponseDecodeError, match="another host"):
            list(new_api(company).list_employees(today=TODAY))


class _OtherHost:
    """Proxies a FakeLucca but advertises another host in the links it builds."""

    def __init__(self, fake: FakeLucca) -> None:
        self._real = fake

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)

    @property
    def url(self) -> str:
        return "http://127.0.0.2:1"


class TestErrors:
    """Problem documents map onto the library's exception tree."""

    def test_unknown_employee(self, company: FakeLucca) -> None:
        with pytest.raises(NotFoundError):
            new_api(company).get_employee(99_999_999)

    def test_a_missing_scope_is_named(self, company: FakeLucca) -> None:
        credential = ClientCredentials(
            company.client_id, company.client_secret, token_url=company.token_url,
            scopes=("employees.readonly", "departments.readonly", "employee-extensions.readonly"),
        )  # fmt: skip
        with pytest.raises(PermissionDeniedError, match=r"business-establishments\.readonly"):
            list(LuccaDirectory(company.url, credential).list_employees(today=TODAY))

    def test_problem_details_reach_the_message(self, company: FakeLucca) -> None:
        company.fail_next(
            400, body={"title": "One or more validation errors occurred.", "status": 400,
                       "errors": {"limit": ["too big"]}}, path="/lucca-api/departments",
        )  # fmt: skip
        with pytest.raises(BadRequestError, match="limit: too big"):
            list(new_api(company).list_employees(today=TODAY))

    @pytest.mark.parametrize(
        "option",
        [{"modified_since": datetime(2025, 1, 1)},
         {"ended_between": (date(2025, 1, 1), date(2025, 2, 1))}],
    )  # fmt: skip
    def test_date_filters_are_refused(self, company: FakeLucca, option: dict[str, object]) -> None:
        with pytest.raises(ConfigurationError, match="Lucca API"):
            new_api(company).list_employees(**option)  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match="ApiKey"):
            new_api(company).count_employees()


class TestDecoding:
    """String ids become integers; anything else is a decode error for that record."""

    def employee(self, **fields: object) -> dict[str, object]:
        return {"id": "12", "givenName": "Zoé", "familyName": "Dupont", "email": None, **fields}

    def decode(self, item: object) -> Employee:
        reader = LuccaApiReader(None, ZoneInfo("Europe/Paris"))  # type: ignore[arg-type]
        lookups = _Lookups({"5": "Finance"}, {"1": "Paris"}, {})
        return reader._employee(item, {}, {}, lookups, url="http://h/lucca-api/employees",
                                path="items[0]")  # fmt: skip

    def test_a_numeric_string_id(self) -> None:
        assert self.decode(self.employee()).id == 12

    @pytest.mark.parametrize("bad", ["abc", "-3", "1.5", " 12", "١٢"])
    def test_a_non_numeric_id_is_a_decode_error(self, bad: str) -> None:
        with pytest.raises(ResponseDecodeError, match="numeric id") as caught:
            self.decode(self.employee(id=bad))
        assert caught.value.path == "items[0].id"

    def test_an_integer_id_is_a_decode_error(self) -> None:
        with pytest.raises(ResponseDecodeError, match="expected a string"):
            self.decode(self.employee(id=12))

    def test_a_missing_applicable_position_is_named(self) -> None:
        item = self.employee(applicableJobPosition={"id": "77"})
        with pytest.raises(ResponseDecodeError) as caught:
            self.decode(item)
        assert caught.value.path == "items[0].applicableJobPosition"
        assert caught.value.employee_id == 12

    def test_strict_false_leaves_the_record_out(self, company: FakeLucca) -> None:
        company.update_user(416, firstName=None)
        pager = new_api(company).list_employees(strict=False, today=TODAY)
        ids = {employee.id for employee in pager}
        assert 416 not in ids
        assert [error.employee_id for error in pager.errors] == [416]


class TestDeprecation:
    """Deprecation and Sunset headers become a warning in the log and in the plan."""

    def test_warning_logged_once_and_in_the_plan(
        self, company: FakeLucca, caplog: pytest.LogCaptureFixture
    ) -> None:
        company.lucca_api.deprecation = "2026-06-01"
        company.lucca_api.sunset = "2027-06-01T00:00:00Z"
        directory = new_api(company)
        with caplog.at_level(logging.WARNING, logger="lucca_sync.http"):
            result = plan(directory, MemorySink(), today=TODAY)
        notices = [r for r in caplog.records if "deprecated" in r.getMessage()]
        assert len(notices) == 1
        assert "2027-06-01" in notices[0].getMessage()
        assert directory.deprecations == [notices[0].getMessage()]
        assert any("2026-06-01" in warning for warning in result.warnings)
