"""Reading employees from a FakeLucca over real loopback HTTP: counts, queries, quirks, paging."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import urllib3

import lucca_sync
from fake_clock import FakeClock
from lucca_sync import ApiKey, Employee, LuccaDirectory, Ref
from lucca_sync.exceptions import IncompleteReadError, NotFoundError, ResponseDecodeError
from lucca_sync.testing import FakeLucca, RecordedRequest, generate_company, make_lucca_user


def staff(count: int, *, first_id: int = 1, step: int = 1) -> list[dict[str, object]]:
    """``count`` active employees with ids ``first_id``, ``first_id + step``, …"""
    return [
        make_lucca_user(id=first_id + index * step, dtContractStart="2020-01-06T00:00:00")
        for index in range(count)
    ]


def reader(fake: FakeLucca, **options: object) -> LuccaDirectory:
    clock = FakeClock()
    settings: dict[str, object] = {"clock": clock, "sleep": clock.sleep, **options}
    return LuccaDirectory(fake.url, ApiKey(fake.api_key), **settings)  # type: ignore[arg-type]


def pagings(fake: FakeLucca) -> list[str | None]:
    return [request.param("paging") for request in fake.requests]


@pytest.fixture
def fake() -> Iterator[FakeLucca]:
    with FakeLucca(staff(3)) as server:
        yield server


class TestRequestCounts:
    """Pages of 1000 overlap by one row; a short page ends the read."""

    @pytest.mark.parametrize(
        ("count", "expected_pagings"),
        [
            (0, ["0,1000"]),
            (1, ["0,1000"]),
            (999, ["0,1000"]),
            (1000, ["0,1000", "999,1000"]),
            (1001, ["0,1000", "999,1000"]),
            (2500, ["0,1000", "999,1000", "1998,1000"]),
        ],
    )
    def test_every_employee_once_in_the_expected_requests(
        self, count: int, expected_pagings: list[str]
    ) -> None:
        with FakeLucca(staff(count)) as fake:
            directory = reader(fake)
            pager = directory.list_employees()
            ids = [employee.id for employee in pager]
            assert ids == list(range(1, count + 1))
            assert pagings(fake) == expected_pagings
            assert pager.requests_made == len(expected_pagings)
            assert directory.requests_made == len(expected_pagings)

    def test_a_realistic_company_returns_active_and_upcoming_in_ceil_n_over_1000(self) -> None:
        today = date(2025, 3, 14)
        company = generate_company(2345, seed=7, today=today)
        with FakeLucca(company, today=today) as fake:
            pager = reader(fake).list_employees(today=today)
            employees = list(pager)
            assert len(fake.requests) == 3
        expected = {
            user["id"]
            for user in company
            if not (user["dtContractEnd"] and str(user["dtContractEnd"])[:10] < "2025-03-14")
        }
        assert {employee.id for employee in employees} == expected
        assert len(employees) == len(expected)
        assert all(isinstance(employee, Employee) for employee in employees)
        assert {employee.status(today) for employee in employees} == {"active", "upcoming"}

    # 7 users. Limit 2 (page_size 1 acts as 2), step 1: offsets 0..5 give full pages (the one
    # at 5 holds ids 6 and 7), the page at 6 holds id 7 only: 7 requests. Limit 3, step 2:
    # offsets 0, 2, 4 are full, 6 is short: 4 requests.
    @pytest.mark.parametrize(("page_size", "requests"), [(2, 7), (1, 7), (3, 4)])
    def test_small_pages(self, page_size: int, requests: int) -> None:
        with FakeLucca(staff(7)) as fake:
            pager = reader(fake, page_size=page_size).list_employees()
            pages = list(pager.by_page())
            assert [employee.id for page in pages for employee in page] == list(range(1, 8))
            assert len(fake.requests) == pager.requests_made == requests
            offsets = [int(str(paging).split(",")[0]) for paging in pagings(fake)]
            limit = max(page_size, 2)
            assert offsets == [index * (limit - 1) for index in range(len(offsets))]
            assert len(pages) == len(offsets)


class TestQuery:
    """What the reader sends: the documented request of reference §4.7."""

    def test_list_query(self, fake: FakeLucca) -> None:
        list(reader(fake).list_employees(today=date(2025, 1, 10)))
        (request,) = fake.requests
        assert request.path == "/api/v3/users"
        assert request.param("fields") == (
            "id,name,firstName,lastName,mail,login,employeeNumber,jobTitle,dtContractStart,"
            "dtContractEnd,modifiedAt,department[id,name],legalEntity[id,name],"
            "manager[id,name],extendedData,collection.count"  # the count: on the first page
        )
        assert request.param("formerEmployees") == "true"
        assert request.param("dtContractEnd") == "since,2025-01-10,null"
        assert request.param("orderBy") == "id,asc"
        assert request.param("paging") == "0,1000"
        assert request.param("modifiedAt") is None

    def test_headers(self, fake: FakeLucca) -> None:
        list(reader(fake).list_employees())
        headers = {name.lower(): value for name, value in fake.requests[0].headers.items()}
        assert headers["authorization"] == "lucca application=***"  # sent, then redacted
        assert headers["accept"] == "application/json"
        assert headers["user-agent"] == f"lucca-sync/{lucca_sync.__version__}"

    def test_include_former_drops_the_end_date_filter(self, fake: FakeLucca) -> None:
        list(reader(fake).list_employees(include_former=True))
        assert fake.requests[0].param("dtContractEnd") is None
        assert fake.requests[0].param("formerEmployees") == "true"

    def test_modified_since_is_sent_naive(self, fake: FakeLucca) -> None:
        directory = reader(fake)
        list(directory.list_employees(modified_since=datetime(2025, 1, 2, 8, 45, 23, 999)))
        aware = datetime(2025, 1, 2, 7, 45, 23, tzinfo=UTC)  # 08:45:23 in Paris
        list(directory.list_employees(modified_since=aware))
        assert [request.param("modifiedAt") for request in fake.requests] == [
            "since,2025-01-02T08:45:23",
            "since,2025-01-02T08:45:23",
        ]

    def test_get_employee_query(self, fake: FakeLucca) -> None:
        employee = reader(fake).get_employee(2)
        (request,) = fake.requests
        assert request.path == "/api/v3/users/2"
        assert "extendedData" in str(request.param("fields"))
        assert employee.id == 2


class TestSelection:
    """Active and upcoming by default; leavers on request; incremental reads."""

    @pytest.fixture
    def company(self) -> Iterator[FakeLucca]:
        today = date(2025, 6, 1)
        users = [
            make_lucca_user(id=1, dtContractStart="2020-01-01T00:00:00", dtContractEnd=None),
            make_lucca_user(
                id=2, dtContractStart="2020-01-01T00:00:00", dtContractEnd="2025-05-31T00:00:00"
            ),
            make_lucca_user(
                id=3, dtContractStart="2020-01-01T00:00:00", dtContractEnd="2025-06-01T00:00:00"
            ),
            make_lucca_user(id=4, dtContractStart="2025-09-01T00:00:00", dtContractEnd=None),
        ]
        with FakeLucca(users, today=today) as fake:
            yield fake

    def test_default_is_active_and_upcoming(self, company: FakeLucca) -> None:
        employees = list(reader(company).list_employees(today=company.today))
        # 2 left the day before; 3 works its last day today; 4 starts in September.
        assert [employee.id for employee in employees] == [1, 3, 4]

    def test_include_former(self, company: FakeLucca) -> None:
        pager = reader(company).list_employees(include_former=True, today=company.today)
        statuses = {employee.id: employee.status(company.today) for employee in pager}
        assert statuses == {1: "active", 2: "former", 3: "active", 4: "upcoming"}

    def test_modified_since_returns_recent_changes(self) -> None:
        users = [
            make_lucca_user(id=1, modifiedAt="2024-12-31T23:59:59.999"),
            make_lucca_user(id=2, modifiedAt="2025-01-02T08:45:23"),
            make_lucca_user(id=3, modifiedAt="2025-02-01T00:00:00"),
        ]
        with FakeLucca(users) as fake:
            pager = reader(fake).list_employees(modified_since=datetime(2025, 1, 2, 8, 45, 23))
            assert [employee.id for employee in pager] == [2, 3]

    def test_get_employee_sees_a_former_employee(self, company: FakeLucca) -> None:
        employee = reader(company).get_employee(2)
        assert employee.contract_end == date(2025, 5, 31)

    def test_get_employee_unknown_id(self, company: FakeLucca) -> None:
        with pytest.raises(NotFoundError) as caught:
            reader(company).get_employee(999)
        assert caught.value.status == 404
        assert "/api/v3/users/999" in str(caught.value)


class TestWireQuirksOverHttp:
    """The envelope and naming variants FakeLucca can emit all read the same."""

    @pytest.mark.parametrize("envelope", ["full", "data", "items"])
    def test_envelopes(self, envelope: str) -> None:
        with FakeLucca(staff(3), envelope=envelope) as fake:  # type: ignore[arg-type]
            directory = reader(fake)
            assert [employee.id for employee in directory.list_employees()] == [1, 2, 3]
            assert directory.get_employee(3).id == 3

    @pytest.mark.parametrize("manager_key", ["managerId", "managerID"])
    def test_manager_ids_whatever_the_flat_key(self, manager_key: str) -> None:
        company = generate_company(40, seed=3, manager_key=manager_key)  # type: ignore[arg-type]
        expected = {user["id"]: user.get(manager_key) for user in company}
        with FakeLucca(company) as fake:
            pager = reader(fake).list_employees(include_former=True)
            found = {employee.id: employee.manager_id for employee in pager}
        assert found == expected
        assert any(manager is not None for manager in found.values())

    def test_modified_on(self) -> None:
        user = make_lucca_user(id=1, modified_key="modifiedOn", modifiedOn="2025-01-02T03:04:05")
        with FakeLucca([user]) as fake:
            (employee,) = reader(fake).list_employees()
        assert employee.modified_at == datetime(2025, 1, 2, 3, 4, 5)

    @pytest.mark.parametrize(
        ("style", "expected"),
        [
            ("object-bool", True),
            ("object-string", "true"),
            ("bare-bool", True),
            ("bare-string", "true"),
        ],
    )
    def test_skip_flag_styles(self, style: str, expected: object) -> None:
        user = make_lucca_user(id=1, skip_flag=True, flag_style=style)  # type: ignore[arg-type]
        with FakeLucca([user]) as fake:
            (employee,) = reader(fake).list_employees()
        assert employee.extended_data["e_skip_elevo_sync"] == expected

    @pytest.mark.parametrize("unset", ["absent", "null", "object-null"])
    def test_unset_flag_is_absent(self, unset: str) -> None:
        user = make_lucca_user(id=1, skip_flag=None, flag_unset=unset)  # type: ignore[arg-type]
        with FakeLucca([user]) as fake:
            (employee,) = reader(fake).list_employees()
        assert "e_skip_elevo_sync" not in employee.extended_data

    def test_references_and_dates_are_typed(self) -> None:
        user = make_lucca_user(
            id=5,
            dtContractStart="2019-09-02T00:00:00",
            department={"id": 13, "name": "Ressources humaines", "url": "x"},
            legalEntity={"id": 1, "name": "Acme Paris", "url": "x"},
        )
        with FakeLucca([user]) as fake:
            (employee,) = reader(fake).list_employees()
        assert employee.department == Ref(13, "Ressources humaines")
        assert employee.legal_entity == Ref(1, "Acme Paris")
        assert employee.contract_start == date(2019, 9, 2)


class TestMalformedUsers:
    """strict stops on a malformed user; strict=False leaves it out and reports it."""

    @pytest.fixture
    def broken(self) -> Iterator[FakeLucca]:
        users = staff(5)
        users[2]["employeeNumber"] = 57  # a number where Lucca documents text
        with FakeLucca(users) as fake:
            yield fake

    def test_strict_raises_with_path_and_id(self, broken: FakeLucca) -> None:
        with pytest.raises(ResponseDecodeError) as caught:
            list(reader(broken).list_employees())
        assert caught.value.path == "data.items[2].employeeNumber"
        assert caught.value.employee_id == 3

    def test_lenient_leaves_it_out_and_reports_it(self, broken: FakeLucca) -> None:
        pager = reader(broken).list_employees(strict=False)
        assert [employee.id for employee in pager] == [1, 2, 4, 5]
        (error,) = pager.errors
        assert error.employee_id == 3
        assert error.path == "data.items[2].employeeNumber"

    def test_a_new_iteration_is_a_new_read(self, broken: FakeLucca) -> None:
        pager = reader(broken).list_employees(strict=False)
        assert len(list(pager)) == 4
        assert len(list(pager)) == 4
        assert len(pager.errors) == 1
        assert pager.requests_made == 1
        assert len(broken.requests) == 2


class TestShiftingDirectory:
    """Employees removed or added between pages never make a silently shorter list."""

    def test_rows_removed_before_the_next_page_trigger_a_complete_re_read(self) -> None:
        with FakeLucca(staff(2500)) as fake:
            removed: list[int] = []

            def remove_while_reading(request: RecordedRequest) -> None:
                if request.param("paging") == "999,1000" and not removed:
                    for user_id in (10, 11, 12):  # three rows of the first page disappear
                        fake.remove_user(user_id)
                        removed.append(user_id)

            fake.before_response = remove_while_reading
            pager = reader(fake).list_employees()
            ids = [employee.id for employee in pager]
        assert len(ids) == len(set(ids))
        still_there = set(range(1, 2501)) - set(removed)
        assert still_there <= set(ids)  # nobody present throughout is missing
        assert pager.restarts == 1
        # 2 pages (the shift shows on page 2), then 3 pages of the 2,497 left.
        assert pager.requests_made == 5

    def test_rows_added_before_the_overlap_need_no_re_read(self) -> None:
        with FakeLucca(staff(1500, first_id=2, step=2)) as fake:  # ids 2, 4, …, 3000

            def add_while_reading(request: RecordedRequest) -> None:
                if request.param("paging") == "999,1000" and len(fake.users) == 1500:
                    fake.add_user(make_lucca_user(id=3))  # sorts into the first page

            fake.before_response = add_while_reading
            pager = reader(fake).list_employees()
            ids = [employee.id for employee in pager]
        assert len(ids) == len(set(ids))
        assert set(range(2, 3001, 2)) <= set(ids)
        assert pager.restarts == 0
        assert pager.requests_made == 2

    def test_a_directory_that_never_settles_raises_incomplete_read(self) -> None:
        with FakeLucca(staff(2500)) as fake:
            next_victim = iter(range(1, 2501))

            def remove_on_every_later_page(request: RecordedRequest) -> None:
                if request.param("paging") != "0,1000":
                    fake.remove_user(next(next_victim))

            fake.before_response = remove_on_every_later_page
            pager = reader(fake).list_employees()
            with pytest.raises(IncompleteReadError) as caught:
                list(pager)
        assert caught.value.restarts == 2
        assert pager.requests_made == 6  # page 1 and page 2 (shifted), three times
        assert "/api/v3/users" in str(caught.value)


class TestTransportOptions:
    """Injected pool managers and urllib3 Timeout values are used as given."""

    def test_injected_pool_manager_carries_the_requests(self, fake: FakeLucca) -> None:
        pool = urllib3.PoolManager(num_pools=1)
        directory = reader(fake, pool_manager=pool, timeout=urllib3.Timeout(connect=2, read=3))
        assert len(list(directory.list_employees())) == 3
        assert len(pool.pools) == 1

    def test_time_zone_decides_today(self) -> None:
        directory = LuccaDirectory(
            "https://acme.ilucca.net", ApiKey("k"), time_zone="Pacific/Kiritimati"
        )
        kiritimati_today = datetime.now(timezone(timedelta(hours=14))).date()
        assert directory.today() == kiritimati_today
