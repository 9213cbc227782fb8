"""``lucca-sync demo``: the whole pipeline on a built-in fake Lucca, offline and deterministic.

A :class:`~lucca_sync.testing.FakeLucca` serves a generated company (plus one malformed record)
on the loopback interface; the demo plans and applies into an
:class:`~lucca_sync.elevo.ElevoSink` writing to a local folder, shows that a second run has
nothing to do, then makes three changes in Lucca (a leaver, a hire, a new job title) and applies
the three-action plan they produce. The date and the company are fixed, so every run makes the
same plans (only the fake server's port, quoted in read errors, changes).
"""

from __future__ import annotations

import argparse
import logging
import shutil
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from lucca_sync._engine._apply import apply
from lucca_sync._engine._plan import plan
from lucca_sync._engine._plan_model import Plan
from lucca_sync._engine._safety import Safety
from lucca_sync._lucca import ApiKey, LuccaDirectory
from lucca_sync.cli._console import EXIT_OK, Console
from lucca_sync.elevo import ElevoSink
from lucca_sync.exceptions import ConfigurationError
from lucca_sync.testing import FakeLucca, generate_company, make_lucca_user

__all__ = ["DEMO_TODAY", "run_demo"]

#: The demo's "today": fixed, so that leavers and future hires are the same on every run.
DEMO_TODAY = date(2025, 3, 14)
_MARKER = ".lucca-sync-demo"
_DROP = "elevo-drop"
_STATE = "state"
_NEW_TITLE = "Responsable qualité"


def _prepare(folder: Path) -> tuple[Path, Path]:
    """Create (or reset) the demo folder; refuse to touch a folder the demo did not create."""
    marker = folder / _MARKER
    if folder.exists() and not folder.is_dir():
        raise ConfigurationError(f"--dir: {folder} exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not marker.exists():
        raise ConfigurationError(
            f"--dir: {folder} is not empty and was not made by 'lucca-sync demo'; "
            "choose another folder (the demo resets its folder on every run)"
        )
    for name in (_DROP, _STATE):
        shutil.rmtree(folder / name, ignore_errors=True)
    drop, state = folder / _DROP, folder / _STATE
    drop.mkdir(parents=True)
    state.mkdir()
    marker.write_text("Made by 'lucca-sync demo'; safe to delete.\n", encoding="utf-8")
    return drop, state


def _company(size: int, seed: int) -> list[dict[str, object]]:
    users = generate_company(size, seed=seed, today=DEMO_TODAY)
    # One malformed record: Lucca serves what it has, the reader must not stop on it.
    broken = make_lucca_user(id=max(int(str(u["id"])) for u in users) + 1)
    broken["dtContractStart"] = "not a date"
    return [*users, broken]


def _counts_line(result: Plan) -> str:
    counts = result.counts
    return (
        f"{counts['creates']} to create, {counts['updates']} to update, "
        f"{counts['suspensions']} to suspend, {counts['reactivations']} to reactivate, "
        f"{counts['excludes']} to mark excluded; {counts['exclusions']} excluded by rules, "
        f"{counts['errors']} error(s), {counts['warnings']} warning(s)"
    )


def _notes(result: Plan) -> list[str]:
    """The plan's errors and warnings, and a sample of its exclusions."""
    lines = [
        f"  error    employee {error.employee_id}: [{error.stage}] {error.message}"
        for error in result.errors
    ]
    lines += [f"  warning  {warning}" for warning in result.warnings]
    for exclusion in result.exclusions[:3]:
        lines.append(f"  excluded employee {exclusion.employee_id}: {exclusion.reason}")
    if len(result.exclusions) > 3:
        lines.append(f"  … and {len(result.exclusions) - 3} more excluded")
    return lines


def _pick_changes(result: Plan, users: list[dict[str, object]]) -> tuple[int, int, int]:
    """A leaver and a title change among the users just created (neither manages anyone), and
    an active manager for the hire — so that the next plan has exactly three actions."""
    created = {create.employee_id: create for create in result.creates}
    managers = {
        create.fields.get("manager_uniq_identifier")
        for create in result.creates
        if create.fields.get("manager_uniq_identifier")
    }
    plain = sorted(
        employee_id
        for employee_id, create in created.items()
        if str(employee_id) not in managers and create.fields.get("job_title") != _NEW_TITLE
    )
    active = {
        int(str(u["id"]))
        for u in users
        if u.get("dtContractEnd") is None and int(str(u["id"])) in created
    }
    plain = [employee_id for employee_id in plain if employee_id in active]
    manager = min(int(key) for key in managers if key is not None and int(key) in active)
    return plain[len(plain) // 3], plain[2 * len(plain) // 3], manager


def run_demo(
    folder: Path, *, size: int = 300, seed: int = 7, say: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run the demo in ``folder``; print with ``say``; return the machine-readable report.

    Args:
        folder: Where the Elevo drop folder and the state folder go (created, or reset when a
            previous demo made it).
        size: Employees of the generated company.
        seed: Seed of the generated company.
        say: Prints one block of text.

    Raises:
        ConfigurationError: ``folder`` exists, is not empty and was not made by the demo.
    """
    drop, state = _prepare(folder)
    users = _company(size, seed)
    report: dict[str, Any] = {"today": DEMO_TODAY.isoformat(), "employees": len(users), "runs": []}
    with FakeLucca(users, today=DEMO_TODAY) as fake:
        directory = LuccaDirectory(fake.url, ApiKey(fake.api_key), page_size=100)
        sink = ElevoSink.to_directory(drop, state_dir=state)
        csv_path = drop / "users.csv"

        def run(title: str, *, write: bool = True) -> Plan:
            # Reviewed, as an operator would: the first file to an account needs its digest.
            result = plan(directory, sink, today=DEMO_TODAY, safety=Safety.review_only())
            say("")
            say(title)
            say(f"  Plan: {_counts_line(result)}")
            if result.violations:
                # The first file to an account: the operator reviews it and approves its digest.
                limits = ", ".join(violation.limit for violation in result.violations)
                say(f"  Review needed ({limits}): approved here by the plan's digest")
            entry: dict[str, Any] = {
                "step": title,
                "digest": result.digest,
                "counts": result.counts,
                "requests": result.stats.requests_made,
                "written": False,
            }
            if result.is_empty:
                say("  Nothing to write: the Elevo file is already up to date (not rewritten).")
            elif write:
                # Reviewed above: approving the digest is the operator's decision, made here.
                outcome = apply(result, sink, expected_digest=result.digest)
                entry["written"] = True
                entry["applied"] = outcome.counts
                done = outcome.counts
                say(
                    f"  Applied: {done.get('create', 0)} created, {done.get('update', 0)} updated, "
                    f"{done.get('suspend', 0)} suspended, {done.get('failed', 0)} failed"
                )
                say(f"  Elevo file: {csv_path}")
            report["runs"].append(entry)
            return result

        say(
            f"lucca-sync demo: a fake Lucca with {len(users)} employees (seed {seed}, "
            f"today {DEMO_TODAY.isoformat()}), an Elevo snapshot in {drop}"
        )
        first = run("1. First sync: every employee in scope is created")
        for line in _notes(first):
            say(line)
        run("2. Second sync, nothing changed in Lucca")

        leaver, promoted, manager = _pick_changes(first, fake.users)
        fake.update_user(leaver, dtContractEnd=f"{DEMO_TODAY - timedelta(days=1)}T00:00:00")
        fake.update_user(promoted, jobTitle=_NEW_TITLE)
        hire = fake.add_user(
            make_lucca_user(
                id=max(int(str(u["id"])) for u in fake.users) + 1,
                firstName="Zoé",
                lastName="Lefèvre-Dubois",
                mail="zoe.lefevre-dubois@acme.example",
                login="zoe.lefevre-dubois",
                jobTitle="Développeuse",
                dtContractStart=f"{DEMO_TODAY - timedelta(days=3)}T00:00:00",
                manager=manager,
            )
        )
        say("")
        say(
            f"Meanwhile in Lucca: employee {leaver} left yesterday, employee {hire} was hired, "
            f"employee {promoted} is now '{_NEW_TITLE}'."
        )
        third = run("3. Third sync: one suspension, one creation, one update")
        say("")
        # The actions only: exclusions and errors were shown with the first sync.
        for line in third.summary().splitlines():
            if not line.startswith(("excluded", "ERROR")):
                say(f"  {line}".rstrip())
        report.update(
            csv=str(csv_path),
            state_dir=str(state),
            changes={"leaver": leaver, "hire": hire, "title_change": promoted},
            requests=len(fake.requests),
        )
        sink.close()
    return report


def _cmd_demo(args: argparse.Namespace, console: Console) -> int:
    if args.size < 10:
        raise ConfigurationError("--size: expected at least 10 employees")
    if not args.verbose:
        # The malformed record is on purpose: the plan reports it, the log need not.
        logging.getLogger("lucca_sync").setLevel(logging.ERROR)
    report = run_demo(args.dir, size=args.size, seed=args.seed, say=console.say)
    console.facts["outcome"] = "demo"
    console.report(report)
    return EXIT_OK
