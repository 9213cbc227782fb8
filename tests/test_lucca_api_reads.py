"""What a plan reads from the Lucca API (OAuth2): the request minimum, and nothing it needs less."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date
from math import ceil
from typing import cast

import pytest

from lucca_sync import (
    ApiKey,
    ClientCredentials,
    FieldMapping,
    LuccaDirectory,
    Plan,
    Safety,
    apply,
    plan,
    rules,
)
from lucca_sync.exceptions import ConfigurationError
from lucca_sync.mapping import Computed, Field
from lucca_sync.testing import FakeLucca, MemorySink, generate_company, make_lucca_user

TODAY = date(2025, 3, 1)
LEFT = date(2025, 2, 1)
SKIP = "e_skip_elevo_sync"


def new_api(fake: FakeLucca, **options: object) -> LuccaDirectory:
    credential = ClientCredentials(fake.client_id, fake.client_secret, token_url=fake.token_url)
    return LuccaDirectory(fake.url, credential, retries=0, **options)  # type: ignore[arg-type]


def legacy(fake: FakeLucca) -> LuccaDirectory:
    return LuccaDirectory(fake.url, ApiKey(fake.api_key), retries=0)


def employee_reads(fake: FakeLucca) -> list[dict[str, str | None]]:
    """The query of each request for /lucca-api/employees, in order."""
    return [
        {name: r.param(name) for name in ("status", "id")}
        for r in fake.requests
        if r.path == "/lucca-api/employees"
    ]


def extension_filter(fake: FakeLucca) -> str | None:
    reads = [r for r in fake.requests if r.path == "/lucca-api/employee-extensions"]
    assert reads, "custom fields were not read"
    return reads[0].param("extensionDefinition.id")


def actions(result: Plan) -> dict[str, list[tuple[str, str]]]:
    """What a plan does, comparable across the two APIs."""
    return {
        "creates": [(c.key, str(sorted(c.fields.items()))) for c in result.creates],
        "updates": [(u.key, str(u.changes)) for u in result.updates],
        "suspensions": [(s.key, s.reason) for s in result.suspensions],
        "exclusions": [(str(e.employee_id), e.reason) for e in result.exclusions],
    }


@pytest.fixture
def company() -> Iterator[FakeLucca]:
    with FakeLucca(generate_company(400, today=TODAY), today=TODAY) as fake:
        yield fake


class TestCustomFieldsFromConfiguration:
    """A plan reads the custom fields its rules and mapping read, and no other."""

    def test_the_default_configuration_reads_the_skip_flag_only(self, company: FakeLucca) -> None:
        result = plan(new_api(company), MemorySink(), today=TODAY)
        assert extension_filter(company) == SKIP
        assert result.exclusions  # the skip flag was read

    def test_a_mapped_custom_field_is_read_too(self, company: FakeLucca) -> None:
        mapping = FieldMapping.elevo_default().with_field(
            "cost_center", Field("extended_data.e_cost_center")
        )
        result = plan(new_api(company), MemorySink(), today=TODAY, mapping=mapping)
        assert set(cast(str, extension_filter(company)).split(",")) == {SKIP, "e_cost_center"}
        assert any(create.fields.get("cost_center") for create in result.creates)

    def test_a_rule_on_a_raw_custom_field_path_reads_it(self, company: FakeLucca) -> None:
        chosen = (rules.field_equals("extendedData.e_cost_center", "CC-11"),)
        plan(new_api(company), MemorySink(), today=TODAY, rules=chosen)
        assert extension_filter(company) == "e_cost_center"

    def test_custom_code_reads_every_custom_field(self, company: FakeLucca) -> None:
        mapping = FieldMapping.elevo_default().with_field(
            "cost_center", Field(Computed(lambda e: e.extended_data.get("e_cost_center")))
        )
        plan(new_api(company), MemorySink(), today=TODAY, mapping=mapping)
        assert extension_filter(company) is None

    def test_no_custom_field_read_when_none_is_needed(self, company: FakeLucca) -> None:
        result = plan(new_api(company), MemorySink(), today=TODAY, rules=())
        assert not any(r.path == "/lucca-api/employee-extensions" for r in company.requests)
        assert "employee-extensions" not in result.stats.requests_by_resource

    def test_an_explicit_list_is_narrowed_to_what_the_plan_reads(self, company: FakeLucca) -> None:
        directory = new_api(company, custom_fields=[SKIP, "e_cost_center", "e_site"])
        plan(directory, MemorySink(), today=TODAY)
        assert extension_filter(company) == SKIP

    @pytest.mark.parametrize("listed", [(), ("e_cost_center",)])
    def test_an_explicit_list_without_a_needed_field_is_refused(
        self, company: FakeLucca, listed: tuple[str, ...]
    ) -> None:
        with pytest.raises(ConfigurationError, match=SKIP) as caught:
            plan(new_api(company, custom_fields=listed), MemorySink(), today=TODAY)
        assert "custom_fields" in str(caught.value)
        assert not any(r.path.startswith("/lucca-api/") for r in company.requests)

    def test_codes_compare_case_insensitively(self, company: FakeLucca) -> None:
        directory = new_api(company, custom_fields=[SKIP.upper()])
        result = plan(directory, MemorySink(), today=TODAY)
        assert result.exclusions


class TestFormerEmployeesOnDemand:
    """Former employees are read by id when the plan needs them, never all of them."""

    def test_a_first_run_reads_no_former_employee(self, company: FakeLucca) -> None:
        new = plan(new_api(company), MemorySink(), today=TODAY)
        assert [read["status"] for read in employee_reads(company)] == ["active,upcoming"] * 4
        old = plan(legacy(company), MemorySink(), today=TODAY)
        assert actions(new) == actions(old)
        assert new.stats.employees_former == 0 < old.stats.employees_former

    def test_a_leaver_in_the_target_is_read_by_id_and_suspended(self) -> None:
        users = [make_lucca_user(id=i, manager=None if i == 1 else 1) for i in range(1, 6)]
        with FakeLucca(users, today=TODAY) as fake:
            sink = MemorySink()
            apply(plan(new_api(fake), sink, today=TODAY), sink)
            fake.update_user(4, dtContractEnd=f"{LEFT.isoformat()}T00:00:00")
            fake.clear_requests()
            result = plan(new_api(fake), sink, today=TODAY)
            old = plan(legacy(fake), sink, today=TODAY)
        assert [(s.key, s.reason) for s in result.suspensions] == [
            ("4", f"contract ended on {LEFT.isoformat()}")
        ]
        assert actions(result) == actions(old)
        assert employee_reads(fake)[-1] == {"status": "active,upcoming,deactivated", "id": "4"}
        assert result.stats.employees_former == 1

    def test_someone_lucca_no_longer_lists_is_not_visible(self) -> None:
        users = [make_lucca_user(id=i, manager=None if i == 1 else 1) for i in range(1, 4)]
        with FakeLucca(users, today=TODAY) as fake:
            sink = MemorySink()
            apply(plan(new_api(fake), sink, today=TODAY), sink)
            fake.remove_user(3)
            result = plan(new_api(fake), sink, today=TODAY)
        assert [s.key for s in result.suspensions] == ["3"]
        assert "no longer visible" in result.suspensions[0].reason

    def test_a_former_manager_is_read_so_reports_go_to_the_next_one_up(self) -> None:
        users = [
            make_lucca_user(id=1, manager=None),
            make_lucca_user(id=2, manager=1, dtContractEnd=LEFT),
            make_lucca_user(id=3, manager=2),
        ]
        with FakeLucca(users, today=TODAY) as fake:
            new = plan(new_api(fake), MemorySink(), today=TODAY)
            old = plan(legacy(fake), MemorySink(), today=TODAY)
            reads = employee_reads(fake)
        assert {"status": "active,upcoming,deactivated", "id": "2"} in reads
        assert actions(new) == actions(old)
        creates = {create.key: create.fields for create in new.creates}
        assert creates["3"]["manager_uniq_identifier"] == "1"

    def test_many_leavers_are_read_a_hundred_per_request(self) -> None:
        users = [make_lucca_user(id=i, manager=None) for i in range(1, 251)]
        with FakeLucca(users, today=TODAY) as fake:
            sink = MemorySink()
            apply(plan(new_api(fake), sink, today=TODAY), sink)
            for employee_id in range(1, 231):
                fake.update_user(employee_id, dtContractEnd=f"{LEFT.isoformat()}T00:00:00")
            fake.clear_requests()
            result = plan(new_api(fake), sink, today=TODAY, safety=Safety(enforce=False))
        by_id = [read for read in employee_reads(fake) if read["id"] is not None]
        assert [len(cast(str, read["id"]).split(",")) for read in by_id] == [100, 100, 30]
        assert len(result.suspensions) == 230


class TestRequestCount:
    """A full read costs one request per 100 employees, and a few for the lookups."""

    @pytest.mark.parametrize("size", [1, 100, 101, 1000, 2500])
    def test_a_full_read_at_the_request_minimum(self, size: int) -> None:
        users = generate_company(size, today=TODAY)
        with FakeLucca(users, today=TODAY) as fake:
            result = plan(new_api(fake), MemorySink(), today=TODAY)
        current = sum(1 for u in users if not _left(u))
        flags = sum(1 for u in users if SKIP in cast(dict[str, object], u["extendedData"]))
        assert dict(result.stats.requests_by_resource) == {
            "departments": 1,
            "business-establishments": 1,
            "employee-extensions": max(1, ceil(flags / 100)),
            "employees": max(1, ceil(current / 100)),
        }
        assert result.stats.requests_made == sum(result.stats.requests_by_resource.values())
        assert result.stats.requests_made <= ceil(size / 100) + 4

    def test_every_custom_field_costs_a_request_per_hundred_values(self) -> None:
        users = generate_company(1000, today=TODAY)
        values = sum(len(cast(dict[str, object], u["extendedData"])) for u in users)
        mapping = FieldMapping.elevo_default().with_field(
            "cost_center", Field("extended_data.e_cost_center")
        )
        with FakeLucca(users, today=TODAY) as fake:
            result = plan(new_api(fake), MemorySink(), today=TODAY, mapping=mapping)
        # The 2024-11-01 API serves custom-field values 100 per page and embeds none of them
        # in the employees: every 100 values read cost a request (docs/performance.md).
        assert result.stats.requests_by_resource["employee-extensions"] == ceil(values / 100)

    def test_a_re_run_costs_the_same_as_the_first(self, company: FakeLucca) -> None:
        sink = MemorySink()
        first = plan(new_api(company), sink, today=TODAY)
        apply(first, sink)
        again = plan(new_api(company), sink, today=TODAY)
        assert again.is_empty
        assert again.stats.requests_made == first.stats.requests_made

    def test_the_summaries_name_the_requests_per_resource(self, company: FakeLucca) -> None:
        sink = MemorySink()
        result = plan(new_api(company), sink, today=TODAY)
        line = "7 requests to Lucca (departments 1, business-establishments 1, "
        line += "employee-extensions 1, employees 4)"
        assert f"  {line}" in result.summary().splitlines()
        assert apply(result, sink).summary().splitlines()[0].endswith(f"; {line}")

    def test_the_legacy_api_counts_its_users_requests(self, company: FakeLucca) -> None:
        result = plan(legacy(company), MemorySink(), today=TODAY)
        assert dict(result.stats.requests_by_resource) == {"users": 1}


class TestEmbedding:
    """A server that ignores include=embedded is noticed once; its pages cost two more reads."""

    def test_one_warning_and_two_bulk_reads_per_page(
        self, company: FakeLucca, caplog: pytest.LogCaptureFixture
    ) -> None:
        company.lucca_api.embed = False
        with caplog.at_level(logging.WARNING, logger="lucca_sync.http"):
            result = plan(new_api(company), MemorySink(), today=TODAY)
        notices = [r for r in caplog.records if "include=embedded" in r.getMessage()]
        assert len(notices) == 1
        pages = result.stats.requests_by_resource["employees"]
        assert result.stats.requests_by_resource["employments"] == pages
        assert result.stats.requests_by_resource["job-positions"] == pages


def _left(user: dict[str, object]) -> bool:
    end = user.get("dtContractEnd")
    return isinstance(end, str) and date.fromisoformat(end[:10]) < TODAY
