"""FakeLucca's Lucca API routes: paging by cursor, filters, totalCount, and the cost of a read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
import urllib3

from lucca_sync import ClientCredentials, LuccaDirectory
from lucca_sync.testing import FakeLucca, generate_company
from lucca_sync.testing import _fake_lucca_api as routes

TODAY = date(2025, 3, 1)


@pytest.fixture
def fake() -> Iterator[FakeLucca]:
    with FakeLucca(generate_company(250, today=TODAY), today=TODAY) as served:
        yield served


def get(fake: FakeLucca, path: str, **query: str) -> dict[str, object]:
    """One GET with a fresh token; the decoded JSON body."""
    pool = urllib3.PoolManager()
    form = {"grant_type": "client_credentials", "client_id": fake.client_id,
            "client_secret": fake.client_secret, "scope": "employees.readonly"}  # fmt: skip
    token = pool.request("POST", fake.token_url, fields=form, encode_multipart=False).json()
    headers = {"Authorization": f"Bearer {token['access_token']}", "Api-Version": "2024-11-01"}
    response = pool.request("GET", fake.url + path, fields=query, headers=headers)
    assert response.status == 200, response.data
    body: dict[str, object] = response.json()
    return body


def ids(body: dict[str, object]) -> list[str]:
    items = body["items"]
    assert isinstance(items, list)
    return [str(item["id"]) for item in items]


def cursor(body: dict[str, object]) -> str:
    """The ``page`` parameter of the next page's link."""
    href = body["links"]["next"]["href"]  # type: ignore[index]
    return str(parse_qs(urlsplit(href).query)["page"][0])


def directory(fake: FakeLucca) -> LuccaDirectory:
    credential = ClientCredentials(fake.client_id, fake.client_secret, token_url=fake.token_url)
    return LuccaDirectory(fake.url, credential, retries=0)


class TestPaging:
    """Cursor pages cover every match once, in id order, with filters applied."""

    def test_pages_follow_each_other_without_gap_or_repeat(self, fake: FakeLucca) -> None:
        seen: list[str] = []
        query = {"limit": "40", "include": "links", "status": "active"}
        while True:
            body = get(fake, "/lucca-api/employees", **query)
            seen += ids(body)
            following = body["links"]["next"]  # type: ignore[index]
            if following is None:
                break
            query["page"] = cursor(body)
        active = [str(u["id"]) for u in fake.users if not u.get("dtContractEnd")
                  or str(u["dtContractEnd"])[:10] >= TODAY.isoformat()]  # fmt: skip
        assert len(seen) == len(set(seen))
        assert seen == sorted(seen, key=int)
        assert set(seen) <= {str(u["id"]) for u in fake.users}
        assert len(seen) < len(fake.users)  # leavers and future hires are filtered out
        assert set(seen) <= set(active)

    def test_total_count_counts_every_match_whatever_the_cursor(self, fake: FakeLucca) -> None:
        first = get(fake, "/lucca-api/employees", limit="10", include="links,totalCount")
        second = get(
            fake, "/lucca-api/employees", limit="10", include="totalCount", page=cursor(first)
        )
        assert first["totalCount"] == second["totalCount"] == len(fake.users)

    def test_ids_select_in_id_order(self, fake: FakeLucca) -> None:
        some = [str(u["id"]) for u in fake.users][::-50]
        body = get(fake, "/lucca-api/employees", id=",".join([*some, "999999"]), limit="100")
        assert ids(body) == sorted(some, key=int)


class TestCost:
    """Resources are built once per change of the data, not once per request."""

    def test_a_read_builds_each_collection_once(
        self, fake: FakeLucca, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        built: list[int] = []
        real = routes._Collection.__init__

        def counting(self: routes._Collection, pairs: object) -> None:
            real(self, pairs)  # type: ignore[arg-type]
            built.append(len(self.ordered))

        monkeypatch.setattr(routes._Collection, "__init__", counting)
        employees = list(directory(fake).list_employees(include_former=True, today=TODAY))
        assert len(employees) == 250
        pages = sum(1 for r in fake.requests if r.path == "/lucca-api/employees")
        assert pages == 3
        # employees, departments, establishments, extensions: each built once for 3+ pages.
        assert len(built) == 4

    def test_a_change_is_served_at_once(self, fake: FakeLucca) -> None:
        reader = directory(fake)
        before = {e.id: e for e in reader.list_employees(today=TODAY)}
        employee_id = next(iter(before))
        fake.update_user(employee_id, jobTitle="Cheffe de projet")
        after = {e.id: e for e in reader.list_employees(today=TODAY)}
        assert after[employee_id].job_title == "Cheffe de projet"
        fake.remove_user(employee_id)
        assert employee_id not in {e.id for e in reader.list_employees(today=TODAY)}

    def test_a_new_today_changes_statuses(self, fake: FakeLucca) -> None:
        reader = directory(fake)
        now = len(list(reader.list_employees(today=TODAY)))
        fake.today = date(2040, 1, 1)
        later = len(list(reader.list_employees(today=date(2040, 1, 1))))
        assert later != now
