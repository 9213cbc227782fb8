"""generate_company builds a deterministic, realistic Lucca directory."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from lucca_sync.testing import generate_company

TODAY = date(2025, 3, 15)


def company(n: int, **options: Any) -> list[dict[str, Any]]:
    """generate_company with its options given loosely, as the parametrised tests do."""
    return generate_company(n, **options)


def end_date(user: dict[str, Any]) -> date | None:
    value = user["dtContractEnd"]
    return None if value is None else date.fromisoformat(value[:10])


def start_date(user: dict[str, Any]) -> date:
    return date.fromisoformat(user["dtContractStart"][:10])


class TestDeterminism:
    """The same arguments give the same company; another seed another one."""

    def test_same_seed_same_users(self) -> None:
        assert company(300, seed=4, today=TODAY) == company(300, seed=4, today=TODAY)

    def test_other_seed_other_users(self) -> None:
        first = company(300, seed=1, today=TODAY)
        second = company(300, seed=2, today=TODAY)
        assert [u["name"] for u in first] != [u["name"] for u in second]

    def test_sizes(self) -> None:
        assert company(0) == []
        assert len(company(1, today=TODAY)) == 1
        assert len(company(2345, today=TODAY)) == 2345


class TestUniqueness:
    """Ids, e-mails, logins and employee numbers never collide."""

    def test_unique_identifiers(self) -> None:
        users = company(5000, seed=3, today=TODAY)
        for key in ("id", "login", "employeeNumber"):
            values = [u[key] for u in users]
            assert len(set(values)) == len(values), key
        mails = [u["mail"] for u in users if u["mail"] is not None]
        assert len(set(mails)) == len(mails)

    def test_ids_increase(self) -> None:
        ids = [u["id"] for u in company(500, today=TODAY)]
        assert ids == sorted(ids)


class TestRealism:
    """French names, departments, establishments, leavers, future hires, skip flags."""

    users = company(2345, seed=0, today=TODAY)

    def test_accented_hyphenated_and_apostrophe_names(self) -> None:
        names = [f"{u['firstName']} {u['lastName']}" for u in self.users]
        assert any(set(name) & set("éèêëïîôöüçÉ") for name in names)
        assert any("-" in u["firstName"] for u in self.users)
        assert any("'" in u["lastName"] for u in self.users)
        assert any(" " in u["lastName"] for u in self.users)

    def test_some_null_mails(self) -> None:
        nulls = sum(u["mail"] is None for u in self.users)
        assert 0 < nulls < len(self.users) * 0.05

    def test_departments_and_establishments(self) -> None:
        departments = {u["department"]["id"] for u in self.users}
        establishments = {u["legalEntity"]["id"] for u in self.users}
        assert 7 <= len(departments) <= 9
        assert 2 <= len(establishments) <= 3
        assert all(u["departmentId"] == u["department"]["id"] for u in self.users)

    def test_shares_of_leavers_future_hires_and_skips(self) -> None:
        n = len(self.users)
        leavers = [u for u in self.users if (end_date(u) or TODAY) < TODAY]
        future = [u for u in self.users if start_date(u) > TODAY]
        skipped = [u for u in self.users if "e_skip_elevo_sync" in u["extendedData"]]
        assert 0.04 * n <= len(leavers) <= 0.06 * n
        assert 0.02 * n <= len(future) <= 0.04 * n
        assert 0.01 * n <= len(skipped) <= 0.03 * n
        assert all(u["extendedData"]["e_skip_elevo_sync"]["value"] is True for u in skipped)

    def test_contracts_start_before_they_end(self) -> None:
        for user in self.users:
            end = end_date(user)
            assert end is None or start_date(user) < end

    def test_today_defines_leavers(self) -> None:
        later = company(200, today=date(2030, 1, 1))
        assert any((end_date(u) or date.max) >= date(2029, 1, 1) for u in later)

    def test_wire_quirk_options(self) -> None:
        users = company(
            60, today=TODAY, manager_key="managerID", modified_key="modifiedOn",
            flag_style="bare-string",
        )  # fmt: skip
        assert all("managerID" in u and "modifiedOn" in u for u in users)
        assert not any("managerId" in u or "modifiedAt" in u for u in users)
        flags = [
            u["extendedData"]["e_skip_elevo_sync"]
            for u in users
            if "e_skip_elevo_sync" in u["extendedData"]
        ]
        assert flags == ["true"] * len(flags)
        assert flags


class TestManagerTree:
    """One CEO at the top; every other manager is a listed, earlier, active employee."""

    @given(n=st.integers(min_value=0, max_value=400), seed=st.integers(0, 10_000))
    def test_tree_invariants(self, n: int, seed: int) -> None:
        users = company(n, seed=seed, today=TODAY)
        by_id = {u["id"]: u for u in users}
        roots = [u for u in users if u["manager"] is None]
        assert len(roots) == min(n, 1)
        for user in users:
            manager = user["manager"]
            assert user["managerId"] == (manager and manager["id"])
            if manager is None:
                continue
            assert manager["id"] != user["id"]
            assert manager["name"] == by_id[manager["id"]]["name"]
            # Walking up always reaches the CEO: no cycle.
            seen = {user["id"]}
            current = user
            while current["manager"] is not None:
                current = by_id[current["manager"]["id"]]
                assert current["id"] not in seen
                seen.add(current["id"])
            assert current is roots[0]

    def test_leavers_and_future_hires_manage_nobody(self) -> None:
        users = company(3000, seed=5, today=TODAY)
        managers = Counter(u["managerId"] for u in users if u["managerId"] is not None)
        for user in users:
            if (end_date(user) or TODAY) < TODAY or start_date(user) > TODAY:
                assert user["id"] not in managers

    def test_ceo_is_active_with_many_reports(self) -> None:
        users = company(1000, today=TODAY)
        ceo = users[0]
        assert ceo["manager"] is None
        assert ceo["dtContractEnd"] is None
        assert sum(u["managerId"] == ceo["id"] for u in users) >= 5
