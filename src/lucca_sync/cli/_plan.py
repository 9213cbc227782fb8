"""``lucca-sync plan`` and ``lucca-sync apply``: read Lucca and the target, plan, apply."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import attrs

import lucca_sync
from lucca_sync._engine._plan_model import Plan
from lucca_sync._engine._safety import Safety, safety_error
from lucca_sync.cli._config import Config
from lucca_sync.cli._config_load import load_config
from lucca_sync.cli._console import _ACTION_KINDS, EXIT_OK, Console, _CommandError, _write_text
from lucca_sync.cli._progress import Progress, ProgressSink, ProgressSource
from lucca_sync.elevo import ElevoSink
from lucca_sync.exceptions import ConfigurationError, PlanMismatchError, StalePlanError


def _read_plan(config: Config, progress: Progress, *, safety: Safety, sink: ElevoSink) -> Plan:
    """Read Lucca and the target, and plan (the sink keeps its state locked until closed)."""
    directory = config.directory(os.environ)
    try:
        progress.configure(
            requests_per_minute=config.lucca.requests_per_minute,
            page_size=config.lucca.employees_per_request,
        )
        # The target's size is a cheap estimate of how many employees there are to read.
        progress.total = sum(1 for user in sink.users() if user.managed) or None
        return lucca_sync.plan(
            ProgressSource(directory, progress),
            sink,
            **config.plan_options(),
            safety=safety,
        )
    finally:
        progress.clear()


def _cmd_plan(args: argparse.Namespace, console: Console) -> int:
    config = load_config(args.config)
    # Planning is for review: limits are recorded in the plan instead of stopping it.
    with config.sink(lock_timeout=args.wait_for_lock) as sink:
        plan = _read_plan(
            config,
            console.progress,
            safety=attrs.evolve(config.safety, enforce=False),
            sink=sink,
        )
    _note_plan(console, plan, "planned")
    target = args.plan_json
    if target not in (None, "-"):
        _write_text(Path(target), plan.to_json())
    if target == "-" or console.json_mode:
        console.write(plan.to_json() + "\n")
    else:
        console.say(plan.summary(show_values=args.show_values, show_exclusions=args.show_excluded))
        console.say()
        console.say(f"digest: {plan.digest}")
        if plan.is_empty:
            console.say("Nothing to do: applying this plan would write nothing.")
        if target is not None and not plan.violations:
            console.say(f"Plan written to {target}. Apply exactly this plan with:")
            console.say(
                f"  lucca-sync apply --config {args.config} --plan {target} "
                f"--expect-digest {plan.digest}"
            )
            console.say(
                f"It applies within {config.sync.plan_max_age_hours:g} h "
                "(sync.plan_max_age_hours) and only while the target is as it is now "
                + (
                    f"(generation {plan.target_generation}); "
                    if plan.target_generation is not None
                    else "; "
                )
                + "after that, plan again."
            )
    if plan.violations:
        raise safety_error(plan)
    return EXIT_OK


def _note_plan(console: Console, plan: Plan, outcome: str) -> None:
    """What the run line of ``--log-format json`` says about ``plan``: counts, no HR data."""
    console.facts.update(outcome=outcome, digest=plan.digest, counts=plan.counts)
    if plan.violations:
        console.facts["limits"] = [violation.limit for violation in plan.violations]


def _cmd_apply(args: argparse.Namespace, console: Console) -> int:
    if args.expect_digest is not None and args.plan is None:
        raise ConfigurationError("--expect-digest: only with --plan PLAN.json")
    if args.plan is not None and args.expect_digest is None:
        # A plan file is applied as reviewed or not at all: anyone can edit a file and
        # recompute its digest, nobody can change the digest the reviewer wrote down.
        raise ConfigurationError(
            "--plan: give the reviewed plan's digest with --expect-digest (lucca-sync plan "
            "prints it)"
        )
    # A digest copied from a terminal may carry blanks or capitals: compared, and handed to
    # apply(), in the one spelling digests have.
    expected = None if args.expect_digest is None else args.expect_digest.strip().lower()
    config = load_config(args.config)
    if args.plan is not None:
        try:
            text = args.plan.read_text(encoding="utf-8")
        except OSError as exc:
            raise _CommandError(
                f"cannot read plan file {args.plan}: {exc.strerror or exc}"
            ) from exc
        plan = Plan.from_json(text)
        if plan.digest != expected:
            raise PlanMismatchError(
                f"plan file {args.plan} has digest {plan.digest}, not the reviewed "
                f"{expected}: nothing was applied; plan again and review it"
            )
    # One sink from planning to delivery: its state stays locked against another run.
    sink = config.sink(lock_timeout=args.wait_for_lock)
    try:
        if args.plan is None:
            plan = _read_plan(config, console.progress, safety=config.safety, sink=sink)
        _note_plan(console, plan, "no-op" if plan.is_empty else "applied")
        console.progress.start_actions(sum(plan.counts[kind] for kind in _ACTION_KINDS))
        report = lucca_sync.apply(
            plan,
            ProgressSink(sink, console.progress),
            expected_digest=expected,
            **config.apply_options(),
        )
    except StalePlanError as exc:
        if args.plan is None:
            raise  # planned a moment ago: another run published meanwhile
        raise StalePlanError(
            f"{exc}. Make a new plan and review it: lucca-sync plan --config {args.config} "
            f"--json {args.plan}, then lucca-sync apply --config {args.config} --plan "
            f"{args.plan} --expect-digest <the new digest>"
        ) from exc
    finally:
        console.progress.clear()
        sink.close()
    console.say(report.summary())
    # Per-employee errors (a malformed record, no e-mail) kept those employees out of the
    # plan; they are shown, but only failed actions make the run fail.
    for error in plan.errors:
        who = "-" if error.employee_id is None else error.employee_id
        console.say(f"ERROR {who} [{error.stage}] {error.message}")
    console.report(json.loads(report.to_json()))
    console.facts["failures"] = len(report.failures)
    if report.failures:
        raise _CommandError(
            f"{len(report.failures)} action(s) failed (listed above); the others were applied"
        )
    return EXIT_OK
