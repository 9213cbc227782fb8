"""lucca_sync benchmark: requests, bytes, wall and CPU time, peak memory, against a floor.

Run from the repository root::

    python benchmarks/run.py                  # 1k, 10k and 100k employees (a few minutes)
    python benchmarks/run.py --quick          # 1k and 10k
    python benchmarks/run.py --write-docs     # also update the table in docs/performance.md
    python benchmarks/run.py --repeat 1       # one run per scenario (default: best of 3)
    python benchmarks/run.py --no-tenants     # without the many-tenants scenario
    LUCCA_API_KEY=... python benchmarks/run.py --lucca-url https://stub.example  # any v3 server

FakeLucca serves a generated company from a separate process, so its CPU time is not counted;
each scenario runs in a fresh interpreter, so its peak RSS is its own. Pacing is disabled for
the measurements (``requests_per_minute`` very high); what Lucca's 50 requests per minute would
add to the wall time is computed from the request count. The pacing table reads through
FakeLucca with a simulated clock: waiting is counted, not slept.

With ``--lucca-url``, only ``floor`` and ``full`` run, against that server (a Lucca stub, or a
tenant): both only read, and nothing is written anywhere.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import tenants
import urllib3

from lucca_sync import ApiKey, ClientCredentials, LuccaDirectory, Safety, apply, plan
from lucca_sync._lucca._v3 import USER_FIELDS
from lucca_sync.elevo import ElevoSink
from lucca_sync.testing import FakeLucca, MemorySink, generate_company, make_lucca_user

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "performance.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
PACING_START, PACING_END = "<!-- pacing:start -->", "<!-- pacing:end -->"
REQUESTS_START, REQUESTS_END = "<!-- requests:start -->", "<!-- requests:end -->"
TENANTS_START, TENANTS_END = "<!-- tenants:start -->", "<!-- tenants:end -->"
KEY = "b" * 32
#: The OAuth client of the Lucca API scenarios (``api-*``).
CLIENT_ID, CLIENT_SECRET = "bench-client", "c" * 32
#: The API key the scenario processes send (set by the driver for each server).
KEY_VARIABLE = "LUCCA_SYNC_BENCH_KEY"
TODAY = date(2025, 3, 10)
#: The key under which a scenario hands back what it made, to be freed after measuring.
HELD = "held"
#: Employees changed between the no-op run and the incremental run.
CHANGED = 10
Result = dict[str, Any]


# -- the server process ------------------------------------------------------------------------


def _serve(size: int, conn: Connection) -> None:
    """FakeLucca in its own process; answers control messages until told to stop."""
    with FakeLucca(
        generate_company(size, seed=0, today=TODAY),
        api_key=KEY,
        today=TODAY,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        token_lifetime=86_400,
    ) as fake:
        conn.send(fake.url)
        while (message := conn.recv()) != "stop":
            assert message == "change"
            now = datetime.now(ZoneInfo("Europe/Paris")).replace(tzinfo=None)
            active = [u for u in fake.users if u.get("dtContractEnd") is None]
            for user in active[1 : CHANGED - 1]:
                fake.update_user(int(str(user["id"])), jobTitle="Chef de projet")
            fake.update_user(int(str(active[-1]["id"])), dtContractEnd="2025-03-01T00:00:00")
            fake.add_user(make_lucca_user(dtContractStart=TODAY, manager=None, modifiedAt=now))
            conn.send("changed")


# -- measuring inside a scenario process -------------------------------------------------------


class CountingPool(urllib3.PoolManager):
    """A PoolManager that counts the bytes of the bodies it receives."""

    received = 0

    def urlopen(  # type: ignore[override]  # the same signature as urllib3's own override
        self, method: str, url: str, redirect: bool = True, **kw: Any
    ) -> Any:
        response = super().urlopen(method, url, redirect=redirect, **kw)
        CountingPool.received += len(response.data)
        return response


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _key() -> str:
    return os.environ.get(KEY_VARIABLE, KEY)


def _directory(url: str) -> LuccaDirectory:
    return LuccaDirectory(
        url, ApiKey(_key()), requests_per_minute=10**6, pool_manager=CountingPool()
    )


def _api_directory(url: str) -> LuccaDirectory:
    credential = ClientCredentials(CLIENT_ID, CLIENT_SECRET, token_url=url + "/connect/token")
    return LuccaDirectory(url, credential, requests_per_minute=10**6, pool_manager=CountingPool())


def _api_floor(url: str, state: Path, today: date) -> Result:
    """The employee pages of the Lucca API (embedded, 100 each) with urllib3 and json.loads."""
    pool = CountingPool()
    form = {"grant_type": "client_credentials", "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "scope": "employees.readonly"}  # fmt: skip
    token = json.loads(
        pool.request("POST", url + "/connect/token", fields=form, encode_multipart=False).data
    )["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Api-Version": "2024-11-01"}
    query: dict[str, str] | None = {"status": "active,upcoming", "include": "embedded,links",
                                    "limit": "100"}  # fmt: skip
    target, requests, employees = url + "/lucca-api/employees", 0, 0
    while True:
        response = pool.request("GET", target, fields=query, headers=headers)
        requests += 1
        body = json.loads(response.data)
        employees += len(body["items"])
        following = body["links"]["next"]
        if following is None:
            return {"requests": requests, "employees": employees}
        target, query = following["href"], None


def _api_full(url: str, state: Path, today: date) -> Result:
    """plan() through the Lucca API (OAuth2) into an empty target."""
    made = plan(_api_directory(url), MemorySink(), today=today)
    return {"requests": made.stats.requests_made,
            "by_resource": dict(made.stats.requests_by_resource),
            "creates": len(made.creates), HELD: made}  # fmt: skip


def _floor(url: str, state: Path, today: date) -> Result:
    """The same pages, without overlap, with nothing but urllib3 and json.loads."""
    pool = CountingPool()
    headers = {"Authorization": f"lucca application={_key()}", "Accept": "application/json"}
    offset, requests, employees = 0, 0, 0
    while True:
        query = {
            "fields": USER_FIELDS,
            "formerEmployees": "true",
            "orderBy": "id,asc",
            "paging": f"{offset},1000",
        }
        response = pool.request("GET", url + "/api/v3/users", fields=query, headers=headers)
        requests += 1
        items = json.loads(response.data)["data"]["items"]
        employees += len(items)
        if len(items) < 1000:
            return {"requests": requests, "employees": employees}
        offset += 1000


def _full(url: str, state: Path, today: date) -> Result:
    directory = _directory(url)
    made = plan(directory, MemorySink(), today=today)
    return {"requests": directory.requests_made,
            "by_resource": dict(made.stats.requests_by_resource),
            "creates": len(made.creates), HELD: made}  # fmt: skip


def _prepare(url: str, state: Path, today: date) -> Result:
    sink = ElevoSink.to_directory(state / "drop", state_dir=state / "state")
    # The first publication is approved by its digest, as an operator would after review.
    made = plan(_directory(url), sink, today=today, safety=Safety.review_only())
    report = apply(made, sink, expected_digest=made.digest)
    return {"requests": 0, "ok": report.ok}


def _noop(url: str, state: Path, today: date) -> Result:
    directory = _directory(url)
    delivered = state / "drop" / "users.csv"
    delivered.unlink(missing_ok=True)  # written by the prepare run, not by a no-op
    sink = ElevoSink.to_directory(state / "drop", state_dir=state / "state")
    made = plan(directory, sink, today=today)
    apply(made, sink)
    return {"requests": directory.requests_made, "empty": made.is_empty,
            "delivered": delivered.exists(), HELD: made}  # fmt: skip


def _incremental(url: str, state: Path, today: date) -> Result:
    directory = _directory(url)
    sink = ElevoSink.to_directory(state / "drop", state_dir=state / "state")
    made = plan(directory, sink, today=today, mode="incremental")
    return {
        "requests": directory.requests_made,
        "mode": made.stats.mode,
        "actions": sum(len(getattr(made, kind)) for kind in ("creates", "updates", "suspensions")),
        HELD: made,
    }


def _naive(url: str, state: Path, today: date) -> Result:
    """A naive reader: list the ids, then GET each employee on its own."""
    directory = _directory(url)
    pool = CountingPool()
    headers = {"Authorization": f"lucca application={_key()}", "Accept": "application/json"}
    query = {"fields": "id", "formerEmployees": "true", "paging": "0,1000"}
    response = pool.request("GET", url + "/api/v3/users", fields=query, headers=headers)
    ids = [item["id"] for item in json.loads(response.data)["data"]["items"]]
    employees = [directory.get_employee(employee_id) for employee_id in ids]
    return {"requests": directory.requests_made + 1, "employees": len(employees)}


SCENARIOS: dict[str, Callable[[str, Path, date], Result]] = {
    "floor": _floor,
    "full": _full,
    "prepare": _prepare,
    "noop": _noop,
    "naive": _naive,
    "incremental": _incremental,
    "api-floor": _api_floor,
    "api-full": _api_full,
}


def _measure(name: str, url: str, state: Path, today: date) -> Result:
    baseline = _rss_kib()
    wall, cpu = time.perf_counter(), time.process_time()
    result = SCENARIOS[name](url, state, today)
    result["wall"] = time.perf_counter() - wall
    result["cpu"] = time.process_time() - cpu
    # The plan is released after the clock stops: freeing what plan() returned is the
    # caller's cost, whenever it drops the plan, not plan()'s.
    result.pop(HELD, None)
    result["bytes"] = CountingPool.received
    result["peak_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result["baseline_kib"] = baseline
    return result


# -- the driver --------------------------------------------------------------------------------


def _scenario(name: str, url: str, state: Path, *, key: str = KEY, today: date = TODAY) -> Result:
    command = [sys.executable, __file__, "--scenario", name, "--url", url, "--state", str(state)]
    command += ["--today", today.isoformat()]
    environment = {**os.environ, KEY_VARIABLE: key}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
    if done.returncode:
        raise RuntimeError(f"scenario {name} failed:\n{done.stderr}")
    result: Result = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _best(name: str, url: str, state: Path, repeat: int, **options: Any) -> Result:
    """The run of ``name`` with the least CPU time out of ``repeat`` (noise only adds time)."""
    runs = [_scenario(name, url, state, **options) for _ in range(repeat)]
    return min(runs, key=lambda run: float(run["cpu"]))


def run_size(size: int, repeat: int = 1) -> list[Result]:
    """Every scenario for one directory size, against one FakeLucca process."""
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=_serve, args=(size, child), daemon=True)
    server.start()
    url = parent.recv()
    state = Path(tempfile.mkdtemp(prefix="lucca-sync-bench-"))
    (state / "drop").mkdir()
    rows: list[Result] = []
    try:
        names = ["floor", "full", "prepare", "noop"] + (["naive"] if size <= 1000 else [])
        for name in names:
            if name == "prepare":
                _scenario(name, url, state)
            else:
                rows.append({"scenario": name, "size": size, **_best(name, url, state, repeat)})
        # The Lucca API path, against its own floor (pages of 100 with embedded resources).
        api = [{"scenario": name, "size": size, **_best(name, url, state, repeat)}
               for name in ("api-floor", "api-full")]  # fmt: skip
        parent.send("change")
        parent.recv()
        rows.append(
            {"scenario": "incremental", "size": size, **_scenario("incremental", url, state)}
        )
        _check_scenarios(rows)
    finally:
        parent.send("stop")
        server.join(timeout=30)
        shutil.rmtree(state, ignore_errors=True)
    return _ratios(rows, size) + _ratios(api, size)


def _check_scenarios(rows: list[Result]) -> None:
    """Stop when a scenario did not do what it measures: its numbers would mean nothing."""
    done = {row["scenario"]: row for row in rows}
    if not done["noop"]["empty"] or done["noop"]["delivered"]:
        raise RuntimeError("the noop scenario planned changes or delivered a file")
    if done["incremental"]["mode"] != "incremental":
        raise RuntimeError(f"the incremental scenario read {done['incremental']['mode']}")


def run_many_tenants() -> str:
    """The tenants scenario (see tenants.py) against one FakeLucca process."""
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=_serve, args=(tenants.EMPLOYEES, child), daemon=True)
    server.start()
    url = parent.recv()
    try:
        rows = tenants.run_tenants(
            url,
            lambda: ClientCredentials(CLIENT_ID, CLIENT_SECRET, token_url=url + "/connect/token"),
            TODAY,
        )
    finally:
        parent.send("stop")
        server.join(timeout=30)
    return tenants.tenants_table(rows)


def run_against(url: str, key: str, repeat: int = 1) -> list[Result]:
    """``floor`` and ``full`` against an existing server: reads only, writes nothing."""
    state = Path(tempfile.mkdtemp(prefix="lucca-sync-bench-"))
    today = date.today()
    try:
        rows = [
            {"scenario": name, **_best(name, url, state, repeat, key=key, today=today)}
            for name in ("floor", "full")
        ]
    finally:
        shutil.rmtree(state, ignore_errors=True)
    size = int(rows[0]["employees"])  # everyone the server lists, former employees included
    for row in rows:
        row["size"] = size
    return _ratios(rows, max(size, 1))


def _ratios(rows: list[Result], size: int) -> list[Result]:
    """Add the ratios to the floor (the first row), memory per employee and paced wall time."""
    floor = rows[0]
    for row in rows:
        row["cpu_ratio"] = row["cpu"] / floor["cpu"]
        row["per_employee"] = max(0, row["peak_kib"] - row["baseline_kib"]) * 1024 / size
        # Lucca's 50 requests per minute: the first 50 go at once, then one minute per 50.
        row["paced_wall"] = row["wall"] + 60 * ((row["requests"] - 1) // 50)
    return rows


# -- pacing, with a simulated clock ------------------------------------------------------------


class SimulatedClock:
    """A clock that sleeping advances: the pacing's waits are counted, not slept."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


#: Employees and page size of the pacing read: 102 requests, a full read of 100,000 employees.
PACING_EMPLOYEES, PACING_PAGE = 10_000, 100
#: Requests per minute Lucca leaves for lucca_sync: alone, then sharing the tenant.
PACING_BUDGETS = (50, 30, 10)


def run_pacing() -> list[Result]:
    """The same read alone and sharing the tenant: 429 answers and the time it takes."""
    users = generate_company(PACING_EMPLOYEES, seed=0, today=TODAY)
    # The reader logs each 429 and each slow-down as a warning: the table says it all.
    logging.getLogger("lucca_sync").setLevel(logging.ERROR)
    rows: list[Result] = []
    for budget in PACING_BUDGETS:
        clock = SimulatedClock()
        with FakeLucca(
            users, api_key=KEY, today=TODAY, rate_limit=(budget, 60.0), clock=clock
        ) as fake:
            directory = LuccaDirectory(
                fake.url, ApiKey(KEY), page_size=PACING_PAGE, clock=clock, sleep=clock.sleep
            )
            read = len(list(directory.list_employees(include_former=True, today=TODAY)))
            statuses = [request.status for request in fake.requests]
        rows.append(
            {
                "budget": budget,
                "employees": read,
                "requests": len(statuses),
                "refused": statuses.count(429),
                "minutes": clock.now / 60,
                "rate": directory.requests_per_minute,
            }
        )
    return rows


def pacing_table(rows: Sequence[Result]) -> str:
    """The pacing results as a Markdown table."""
    alone = rows[0]["minutes"]
    lines = [
        "| requests per minute left for lucca_sync | requests | answered 429 | minutes "
        "| x alone | rate at the end |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    lines.extend(
        f"| {row['budget']} | {row['requests']} | {row['refused']} | {row['minutes']:.1f} | "
        f"{row['minutes'] / alone:.2f} | {row['rate']}/min |"
        for row in rows
    )
    return "\n".join(lines)


def table(rows: Sequence[Result]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| N | scenario | requests | KiB received | wall s | wall at 50/min | client CPU s "
        "| CPU x floor | peak RSS MiB | bytes/employee |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines.extend(
        f"| {row['size']:,} | {row['scenario']} | {row['requests']} | "
        f"{row['bytes'] / 1024:,.0f} | {row['wall']:.2f} | {_duration(row['paced_wall'])} | "
        f"{row['cpu']:.2f} | {row['cpu_ratio']:.2f} | {row['peak_kib'] / 1024:.0f} | "
        f"{row['per_employee']:,.0f} |"
        for row in rows
    )
    return "\n".join(lines)


def resources_table(rows: Sequence[Result]) -> str:
    """Where the requests of each plan() went, per Lucca resource."""
    lines = ["| N | scenario | requests | per resource |", "|---:|---|---:|---|"]
    lines.extend(
        f"| {row['size']:,} | {row['scenario']} | {row['requests']} | "
        + ", ".join(f"{name} {count}" for name, count in row["by_resource"].items())
        + " |"
        for row in rows
        if row.get("by_resource")
    )
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 60 else f"{seconds / 60:.1f} min"


def write_docs(text: str, start: str = START, end: str = END) -> None:
    """Replace the text between two markers of docs/performance.md."""
    page = DOCS.read_text(encoding="utf-8")
    head, _, rest = page.partition(start)
    _, _, tail = rest.partition(end)
    DOCS.write_text(f"{head}{start}\n{text}\n{end}{tail}", encoding="utf-8")


def _summary(rows: Sequence[Result]) -> None:
    for row in rows:
        if row["scenario"] in ("full", "api-full"):
            api = " (Lucca API)" if row["scenario"] == "api-full" else ""
            print(
                f"N={row['size']:,}{api}: plan() CPU = {row['cpu_ratio']:.2f} x floor; "
                f"{row['per_employee']:,.0f} bytes per employee above baseline; "
                f"{row['requests']} requests"
            )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated sizes")
    parser.add_argument("--quick", action="store_true", help="1k and 10k only")
    parser.add_argument("--write-docs", action="store_true", help="update docs/performance.md")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per scenario; the least CPU time is kept"
    )
    parser.add_argument(
        "--lucca-url",
        help="measure floor and full against this server instead of FakeLucca (reads only); "
        "the API key is read from the LUCCA_API_KEY environment variable",
    )
    parser.add_argument(
        "--tenants", action="store_true", help="only the many-tenants scenario (tenants.py)"
    )
    parser.add_argument(
        "--no-tenants", action="store_true", help="skip the many-tenants scenario (about 1.5 min)"
    )
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--state", help=argparse.SUPPRESS)
    parser.add_argument("--today", type=date.fromisoformat, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.scenario:
        print(json.dumps(_measure(args.scenario, args.url, Path(args.state), args.today)))
        return 0
    if args.lucca_url:
        key = os.environ.get("LUCCA_API_KEY", "")
        if not key:
            parser.error("--lucca-url needs the API key in the LUCCA_API_KEY environment variable")
        rows = run_against(args.lucca_url.rstrip("/"), key, args.repeat)
        print(table(rows))
        _summary(rows)
        return 0
    if args.tenants:
        many = run_many_tenants()
        print(many)
        if args.write_docs:
            write_docs(many, TENANTS_START, TENANTS_END)
        return 0
    sizes = [1000, 10000] if args.quick else [int(size) for size in args.sizes.split(",")]
    rows = []
    for size in sizes:
        started = time.perf_counter()
        rows.extend(run_size(size, args.repeat))
        print(f"{size:,} employees: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    text = table(rows)
    requests = resources_table(rows)
    pacing = pacing_table(run_pacing())
    many = "" if args.no_tenants else run_many_tenants()
    print(text, requests, pacing, many, sep="\n\n")
    _summary(rows)
    if args.write_docs:
        write_docs(
            f"Measured on {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}; each "
            f"scenario run {args.repeat} time(s), the run with the least CPU time shown.\n\n{text}"
        )
        write_docs(pacing, PACING_START, PACING_END)
        write_docs(requests, REQUESTS_START, REQUESTS_END)
        if many:
            write_docs(many, TENANTS_START, TENANTS_END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
