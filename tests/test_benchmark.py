"""The benchmark's command line: measuring against a server it did not start."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from lucca_sync import ClientCredentials
from lucca_sync.testing import FakeLucca, generate_company

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"
KEY = "s" * 32


def _run(*arguments: str, key: str | None) -> subprocess.CompletedProcess[str]:
    environment = {name: value for name, value in os.environ.items() if name != "LUCCA_API_KEY"}
    if key is not None:
        environment["LUCCA_API_KEY"] = key
    return subprocess.run(
        [sys.executable, str(SCRIPT), *arguments],
        capture_output=True,
        text=True,
        check=False,
        env=environment,
        timeout=100,
    )


class TestAgainstAnotherServer:
    """``--lucca-url`` measures floor and full against any v3 server, reading only."""

    def test_prints_the_ratio_and_the_requests_of_a_full_read(self) -> None:
        users = generate_company(1500, seed=5, today=date.today())
        with FakeLucca(users, api_key=KEY) as fake:
            done = _run("--lucca-url", fake.url, "--repeat", "1", key=KEY)
            methods = {request.method for request in fake.requests}
            statuses = {request.status for request in fake.requests}
        assert done.returncode == 0, done.stderr
        rows = [line for line in done.stdout.splitlines() if line.startswith("| 1,500 |")]
        assert [row.split("|")[2].strip() for row in rows] == ["floor", "full"]
        # 1,500 employees: two pages for the floor; the reader's overlap of one row as well.
        assert [row.split("|")[3].strip() for row in rows] == ["2", "2"]
        assert "N=1,500: plan() CPU = " in done.stdout
        assert methods == {"GET"}
        assert statuses == {200}

    def test_refuses_to_start_without_an_api_key(self) -> None:
        done = _run("--lucca-url", "http://127.0.0.1:9", key=None)
        assert done.returncode == 2
        assert "LUCCA_API_KEY" in done.stderr


class TestScenarios:
    """Every scenario of the table runs, and does what it measures, at a small size."""

    def test_every_scenario_runs_and_the_noop_writes_nothing(self) -> None:
        done = _run("--sizes", "100", "--repeat", "1", "--no-tenants", key=None)
        assert done.returncode == 0, done.stderr
        scenarios = [
            line.split("|")[2].strip() for line in done.stdout.splitlines() if "| 100 |" in line
        ]
        for name in ("floor", "full", "noop", "naive", "incremental", "api-floor", "api-full"):
            assert name in scenarios


class TestManyTenants:
    """The tenants scenario syncs every tenant once per pool size, on the tenants' clocks."""

    def test_every_tenant_is_synced_with_each_pool(self, monkeypatch: pytest.MonkeyPatch) -> None:
        sys.path.insert(0, str(SCRIPT.parent))
        try:
            import tenants
        finally:
            sys.path.remove(str(SCRIPT.parent))
        monkeypatch.setattr(tenants, "TENANTS", 3)
        monkeypatch.setattr(tenants, "POOLS", (1, 3))
        today = date(2025, 3, 1)
        with FakeLucca(generate_company(150, today=today), today=today) as fake:
            rows = tenants.run_tenants(
                fake.url,
                lambda: ClientCredentials(
                    fake.client_id, fake.client_secret, token_url=fake.token_url
                ),
                today,
            )
        assert [row["workers"] for row in rows] == [1, 3]
        # 3 tenants, each: 2 employee pages, departments, establishments, custom fields.
        assert [row["requests"] for row in rows] == [15, 15]
        # Each request waits LATENCY on its tenant's clock: the sequential wall adds them up.
        assert rows[0]["wall"] >= 15 * tenants.LATENCY
        assert rows[1]["wall"] < rows[0]["wall"]
        assert "| 3 |" in tenants.tenants_table(rows)
