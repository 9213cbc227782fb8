"""Many tenants in one process: one after the other, then in a pool of threads.

Each tenant is a full ``sync()`` (plan, then apply to its own ``ElevoSink``) of a company read
through the Lucca API (OAuth2), with Lucca's real pacing: ``requests_per_minute=50`` and a
network latency per request. Both are counted on the tenant's own clock instead of slept: the
clock is the real time elapsed since the tenant started plus everything it "waited". A run's
duration is its clock at the end; a pool's wall time is, for the busiest worker thread, the sum
of the durations of the tenants it ran. Waiting costs no real time here, so the tenants' CPU
work is squeezed together and contends more than it would at Lucca's pace: the concurrent wall
times are upper bounds.

Used by ``benchmarks/run.py`` (FakeLucca serves every tenant from another process: its CPU time
is not the client's).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import urllib3

from lucca_sync import ClientCredentials, LuccaDirectory, Safety, apply, plan
from lucca_sync.elevo import ElevoSink

#: Tenants, and employees in each (the same generated company, read through one fake).
TENANTS, EMPLOYEES = 50, 2_000
#: Seconds a Lucca request takes, counted on the tenant's clock (0.2-0.5 s is common).
LATENCY = 0.3
#: Worker threads compared: one (sequential), a small pool, one per tenant.
POOLS = (1, 8, TENANTS)
Result = dict[str, Any]


class TenantClock:
    """Real seconds since the tenant started, plus what it waited (counted, not slept)."""

    def __init__(self) -> None:
        self._started = time.perf_counter()
        self.waited = 0.0

    def __call__(self) -> float:
        return time.perf_counter() - self._started + self.waited

    def sleep(self, seconds: float) -> None:
        self.waited += max(0.0, seconds)


class LatencyPool(urllib3.PoolManager):
    """A PoolManager whose every answer takes ``LATENCY`` seconds on the tenant's clock."""

    def __init__(self, clock: TenantClock) -> None:
        super().__init__()
        self._clock = clock

    def urlopen(  # type: ignore[override]  # the same signature as urllib3's own override
        self, method: str, url: str, redirect: bool = True, **kw: Any
    ) -> Any:
        response = super().urlopen(method, url, redirect=redirect, **kw)
        self._clock.sleep(LATENCY)
        return response


def _tenant(
    url: str, credential: Callable[[], ClientCredentials], root: Path, today: date
) -> Result:
    """One tenant's sync, on its own clock; its duration, requests and CPU time."""
    clock = TenantClock()
    cpu = time.thread_time()
    directory = LuccaDirectory(
        url, credential(), clock=clock, sleep=clock.sleep, pool_manager=LatencyPool(clock)
    )
    (root / "drop").mkdir(parents=True)
    sink = ElevoSink.to_directory(root / "drop", state_dir=root / "state")
    # Each tenant's first file: the plan is reviewed, then applied by its digest.
    made = plan(directory, sink, today=today, safety=Safety.review_only())
    report = apply(made, sink, expected_digest=made.digest)
    assert report.ok or report.plan.errors, report.summary()
    return {
        "duration": clock(),
        "waited": clock.waited,
        "requests": directory.requests_made,
        "cpu": time.thread_time() - cpu,
        "worker": threading.get_ident(),
    }


def run_tenants(url: str, credential: Callable[[], ClientCredentials], today: date) -> list[Result]:
    """Every tenant with each pool size: wall times, sequential against concurrent."""
    # The plans' own warnings (excluded employees without a check box...) say nothing here.
    logging.getLogger("lucca_sync").setLevel(logging.ERROR)
    rows: list[Result] = []
    for workers in POOLS:
        root = Path(tempfile.mkdtemp(prefix="lucca-sync-tenants-"))
        try:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                folders = [root / f"tenant-{index}" for index in range(TENANTS)]
                runs = list(pool.map(partial(_tenant, url, credential, today=today), folders))
        finally:
            shutil.rmtree(root, ignore_errors=True)
        busiest: dict[int, float] = {}
        for run in runs:
            busiest[run["worker"]] = busiest.get(run["worker"], 0.0) + run["duration"]
        rows.append(
            {
                "workers": workers,
                "wall": max(busiest.values()),
                "requests": sum(run["requests"] for run in runs),
                "cpu": sum(run["cpu"] for run in runs),
                "slowest": max(run["duration"] for run in runs),
            }
        )
    return rows


def tenants_table(rows: list[Result]) -> str:
    """The tenants results as a Markdown table."""
    sequential = rows[0]["wall"]
    lines = [
        f"{TENANTS} tenants x {EMPLOYEES:,} employees, Lucca API, 50 requests per minute and "
        f"{LATENCY} s per request each; `sync()` to an `ElevoSink` per tenant.",
        "",
        "| worker threads | requests | wall (simulated) | x faster than sequential "
        "| slowest tenant | client CPU s |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    lines.extend(
        f"| {row['workers']} | {row['requests']:,} | {_duration(row['wall'])} | "
        f"{sequential / row['wall']:.1f} | {_duration(row['slowest'])} | {row['cpu']:.1f} |"
        for row in rows
    )
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 60 else f"{seconds / 60:.1f} min"
