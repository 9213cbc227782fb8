"""The ``lucca-sync`` command line (also ``python -m lucca_sync``).

Commands: ``demo`` (the whole pipeline on a built-in fake Lucca), ``plan``, ``apply``,
``preview`` and ``check`` (read a TOML configuration; secrets come from environment variables).

Exit codes: 0 success, 1 runtime error, 2 configuration or usage error, 3 safety stop. Every
failure ends with one ``lucca-sync: error: …`` line on stderr; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs

import lucca_sync
from lucca_sync import __version__
from lucca_sync import rules as rules_module
from lucca_sync._config import Config, MissingSecretError, load_config, secrets_to_hide
from lucca_sync._employee import Employee
from lucca_sync._engine._plan_model import Plan
from lucca_sync._engine._safety import Safety
from lucca_sync._lucca import ClientCredentials, LuccaDirectory
from lucca_sync._lucca._http import LuccaHttp
from lucca_sync._lucca._lucca_api import API_VERSION, EMPLOYEES, MAX_LIMIT
from lucca_sync._progress import Progress, ProgressSink, ProgressSource
from lucca_sync.exceptions import (
    ConfigurationError,
    LuccaSyncError,
    PlanMismatchError,
    SafetyError,
)
from lucca_sync.rules import RuleContext

__all__ = ["EXIT_CONFIG", "EXIT_ERROR", "EXIT_OK", "EXIT_SAFETY", "main"]

#: The command did what it was asked.
EXIT_OK = 0
#: A runtime error: Lucca, the target, a plan file, the file system.
EXIT_ERROR = 1
#: A configuration or usage error: nothing was read or written.
EXIT_CONFIG = 2
#: A safety limit stopped the sync: nothing was written.
EXIT_SAFETY = 3

_PROG = "lucca-sync"
_ACTION_KINDS = ("creates", "reactivations", "updates", "excludes", "suspensions")
_EPILOG = """\
exit codes:
  0  success
  1  runtime error (Lucca, the target, a plan file)
  2  configuration or usage error
  3  safety stop (the plan trips a safety limit; nothing was written)

Secrets are read from environment variables named in the configuration file
(lucca.api_key_env, LUCCA_API_KEY by default; or lucca.client_id_env and
lucca.client_secret_env for the Lucca API's OAuth client).
"""


class Console:
    """Where a command's output goes: text for people, or one JSON document with ``--json``.

    Args:
        stdout: The output stream.
        json_mode: Print only the JSON report (from :meth:`report`) on ``stdout``.
        progress: The progress line on stderr (cleared before any output).
    """

    def __init__(self, stdout: TextIO, *, json_mode: bool, progress: Progress) -> None:
        self.stdout = stdout
        self.json_mode = json_mode
        self.progress = progress

    def say(self, text: str = "") -> None:
        """Print a line for people (nothing in ``--json`` mode)."""
        if not self.json_mode:
            self.progress.clear()
            self.stdout.write(text + "\n")
            self.stdout.flush()

    def report(self, data: object) -> None:
        """Print the machine-readable report (only in ``--json`` mode)."""
        if self.json_mode:
            self.progress.clear()
            self.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True))
            self.stdout.write("\n")
            self.stdout.flush()


def _add_common(parser: argparse.ArgumentParser, *, top: bool, json_flag: bool = True) -> None:
    """The options every command takes, before or after the command name.

    On sub-commands their default is SUPPRESS, so that an option given before the command name
    is not reset by the sub-command's default.
    """

    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    group = parser.add_argument_group("output options")
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default(0),
        help="log what lucca_sync does on stderr (-v: INFO, -vv: DEBUG, which may show HR data)",
    )
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default(False),
        help="no progress, only errors on stderr",
    )
    group.add_argument(
        "--debug",
        action="store_true",
        default=default(False),
        help="show the traceback of an error",
    )
    if json_flag:
        group.add_argument(
            "--json",
            action="store_true",
            dest="json_report",
            default=default(False),
            help="print a machine-readable JSON report on stdout instead of text",
        )


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        required=True,
        type=Path,
        metavar="FILE",
        help="the TOML configuration file (e.g. lucca-sync.toml)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``lucca-sync``."""
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description=(
            "Keep an Elevo account in step with a Lucca HR directory: plan what would change, "
            "review it, apply it."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_common(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(
        name: str, summary: str, description: str, *, json_flag: bool = True
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=summary,
            description=description,
            epilog=_EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _add_common(sub, top=False, json_flag=json_flag)
        return sub

    demo = command(
        "demo",
        "run the whole pipeline on a built-in fake Lucca, no account needed",
        "Start a fake Lucca with a generated company, plan and apply into an Elevo snapshot "
        "folder, show that a second run writes nothing, then simulate a leaver, a hire and a "
        "job-title change and apply that three-action plan. Deterministic, offline.",
    )
    demo.add_argument(
        "--dir",
        type=Path,
        default=Path("lucca-sync-demo"),
        help="folder for the Elevo drop folder and the sync state (default: ./lucca-sync-demo)",
    )
    demo.add_argument(
        "--size", type=int, default=300, help="employees in the generated company (default 300)"
    )
    demo.add_argument("--seed", type=int, default=7, help="random seed of the company (default 7)")
    demo.set_defaults(handler=_cmd_demo)

    plan = command(
        "plan",
        "show what a sync would change, without writing anything",
        "Read Lucca and the target, and print the plan: creations, updates, suspensions, "
        "exclusions, errors. Nothing is written to the target. Save it with --json PLAN.json "
        "to review it and apply exactly that plan later. A plan that trips a safety limit is "
        "shown with its violations and exits with code 3.",
        json_flag=False,
    )
    _config_option(plan)
    plan.add_argument(
        "--json",
        nargs="?",
        const="-",
        dest="plan_json",
        metavar="PLAN.json",
        help="write the plan as JSON to PLAN.json (or to stdout without a file name)",
    )
    plan.add_argument(
        "--show-values",
        action="store_true",
        help="show field values in the summary (HR data), not only field names",
    )
    plan.set_defaults(handler=_cmd_plan)

    apply = command(
        "apply",
        "apply a reviewed plan, or plan and apply in one go",
        "Without --plan: read Lucca, plan and apply (a safety stop exits with code 3 and "
        "writes nothing). With --plan PLAN.json --expect-digest DIGEST: apply exactly that "
        "reviewed plan, refused unless its digest is the one reviewed; naming the digest also "
        "approves a plan that trips a safety limit.",
    )
    _config_option(apply)
    apply.add_argument(
        "--plan", type=Path, metavar="PLAN.json", help="a plan written by 'plan --json'"
    )
    apply.add_argument(
        "--expect-digest",
        metavar="DIGEST",
        help="the digest of the reviewed plan (printed by 'plan'); required with --plan",
    )
    apply.set_defaults(handler=_cmd_apply)

    preview = command(
        "preview",
        "explain the rule decisions and field mapping of one employee",
        "Read Lucca and show, for one employee: status, each exclusion rule's decision, and "
        "every target field with where its value comes from. Output contains HR data.",
    )
    _config_option(preview)
    preview.add_argument("employee_id", type=int, metavar="EMPLOYEE_ID", help="the Lucca id")
    preview.set_defaults(handler=_cmd_preview)

    check = command(
        "check",
        "validate the configuration and what the credentials can see",
        "Validate the configuration file, and build the Lucca reader and the sink as plan and "
        "apply would. When the credential's environment variables are set, send one request "
        "to Lucca and report what it can see: former employees, future hires and, with an "
        "API key, the HR-folder section holding the skip flag.",
    )
    _config_option(check)
    check.set_defaults(handler=_cmd_check)
    return parser


# --- commands ---------------------------------------------------------------------------------


def _cmd_demo(args: argparse.Namespace, console: Console) -> int:
    from lucca_sync._demo import run_demo

    if args.size < 10:
        raise ConfigurationError("--size: expected at least 10 employees")
    if not args.verbose:
        # The malformed record is on purpose: the plan reports it, the log need not.
        logging.getLogger("lucca_sync").setLevel(logging.ERROR)
    report = run_demo(args.dir, size=args.size, seed=args.seed, say=console.say)
    console.report(report)
    return EXIT_OK


def _read_plan(config: Config, progress: Progress, *, safety: Safety) -> Plan:
    """Read Lucca and the target, and plan; the sink is closed afterwards."""
    directory = config.directory(os.environ)
    sink = config.sink()
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
        sink.close()


def _cmd_plan(args: argparse.Namespace, console: Console) -> int:
    config = load_config(args.config)
    # Planning is for review: limits are recorded in the plan instead of stopping it.
    plan = _read_plan(config, console.progress, safety=attrs.evolve(config.safety, enforce=False))
    target = args.plan_json
    if target not in (None, "-"):
        _write_text(Path(target), plan.to_json())
    if target == "-" or console.json_mode:
        console.progress.clear()
        console.stdout.write(plan.to_json() + "\n")
        console.stdout.flush()
    else:
        console.say(plan.summary(show_values=args.show_values))
        console.say()
        console.say(f"digest: {plan.digest}")
        if plan.is_empty:
            console.say("Nothing to do: applying this plan would write nothing.")
        if target is not None:
            console.say(f"Plan written to {target}. Apply exactly this plan with:")
            console.say(
                f"  lucca-sync apply --config {args.config} --plan {target} "
                f"--expect-digest {plan.digest}"
            )
    if plan.violations:
        first = plan.violations[0]
        raise SafetyError(
            f"the plan trips {len(plan.violations)} safety limit(s) "
            f"({', '.join(v.limit for v in plan.violations)}): {first.message}; review it, "
            f"then apply it with --plan PLAN.json --expect-digest {plan.digest}",
            limit=first.limit,
            observed=first.observed,
            allowed=first.allowed,
        )
    return EXIT_OK


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
    config = load_config(args.config)
    if args.plan is not None:
        try:
            text = args.plan.read_text(encoding="utf-8")
        except OSError as exc:
            raise _CommandError(
                f"cannot read plan file {args.plan}: {exc.strerror or exc}"
            ) from exc
        plan = Plan.from_json(text)
        if plan.digest != args.expect_digest.strip().lower():
            raise PlanMismatchError(
                f"plan file {args.plan} has digest {plan.digest}, not the reviewed "
                f"{args.expect_digest}: nothing was applied; plan again and review it"
            )
    else:
        plan = _read_plan(config, console.progress, safety=config.safety)
    console.progress.start_actions(sum(plan.counts[kind] for kind in _ACTION_KINDS))
    sink = config.sink()
    try:
        report = lucca_sync.apply(
            plan, ProgressSink(sink, console.progress), expected_digest=args.expect_digest
        )
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
    if report.failures:
        raise _CommandError(
            f"{len(report.failures)} action(s) failed (listed above); the others were applied"
        )
    return EXIT_OK


def _cmd_preview(args: argparse.Namespace, console: Console) -> int:
    config = load_config(args.config)
    data = _preview(config, args.employee_id, console.progress)
    console.say(_preview_text(data, on_excluded=config.rules_section.on_excluded))
    console.report(data)
    return EXIT_OK


def _find_employee(
    config: Config, employee_id: int, progress: Progress
) -> tuple[Employee, list[Employee]]:
    """The employee, and the whole directory (the manager graph of graph-based rules)."""
    directory = config.directory(os.environ)
    progress.configure(
        requests_per_minute=config.lucca.requests_per_minute,
        page_size=config.lucca.employees_per_request,
    )
    pager = ProgressSource(directory, progress).list_employees(include_former=True, strict=False)
    employees = list(pager)
    progress.clear()
    for employee in employees:
        if employee.id == employee_id:
            return employee, employees
    for error in pager.errors:
        if error.employee_id == employee_id:
            raise error
    # Not listed: ask for that user alone (NotFoundError when the key cannot see them).
    return directory.get_employee(employee_id), employees


def _preview(config: Config, employee_id: int, progress: Progress) -> dict[str, Any]:
    """Rule decisions, field provenance and the target's user for one employee."""
    employee, employees = _find_employee(config, employee_id, progress)
    today = config.today()
    context = RuleContext.for_employees([*employees, employee], today=today)
    verdicts = []
    for rule in config.rules:
        exclusion = rules_module.decide([rule], employee, context)
        verdicts.append(
            {
                "rule": rules_module.rule_name(rule),
                "excludes": exclusion is not None,
                "reason": None if exclusion is None else exclusion.reason,
                "warning": exclusion is not None and exclusion.warning,
            }
        )
    decision = rules_module.decide(config.rules, employee, context)
    sink = config.sink()
    try:
        target = next((u for u in sink.users() if u.key == str(employee.id)), None)
    finally:
        sink.close()
    return {
        "employee_id": employee.id,
        "status": employee.status(today),
        "today": today.isoformat(),
        "rules": verdicts,
        "decision": None
        if decision is None
        else {"rule": decision.rule, "reason": decision.reason, "warning": decision.warning},
        "fields": [
            {
                "key": field.key,
                "value": field.value,
                "present": field.present,
                "empty": field.empty,
                "source": field.source,
                "transforms": list(field.transforms),
                "apply": field.apply,
                "on_empty": field.on_empty,
                "error": field.error,
                "target": None if target is None else target.fields.get(field.key),
            }
            for field in config.mapping.explain(employee)
        ],
        "target": None
        if target is None
        else {
            "key": target.key,
            "suspended": target.suspended,
            "managed": target.managed,
            "excluded": target.excluded,
        },
    }


def _preview_text(data: Mapping[str, Any], *, on_excluded: str) -> str:
    lines = [
        f"Employee {data['employee_id']}: {data['status']} on {data['today']}",
        "",
        "Exclusion rules (the first that excludes wins):",
    ]
    if not data["rules"]:
        lines.append("  (no rule configured)")
    for verdict in data["rules"]:
        outcome = "excludes" if verdict["excludes"] else "keeps"
        reason = f": {verdict['reason']}" if verdict["reason"] else ""
        flag = " [warning]" if verdict["warning"] else ""
        lines.append(f"  {verdict['rule']}: {outcome}{reason}{flag}")
    decision = data["decision"]
    if decision is not None:
        lines.append(f"Decision: excluded by {decision['rule']} (on_excluded = {on_excluded})")
    elif data["status"] == "former":
        lines.append("Decision: kept by the rules, but the contract has ended (a departure)")
    else:
        lines.append("Decision: synchronised")
    lines += ["", "Fields (target key = value <- source | transforms | policy):"]
    fields = data["fields"]
    width = max((len(field["key"]) for field in fields), default=0)
    target = data["target"]
    for field in fields:
        shown = repr(field["value"]) if field["present"] else "(absent: left as is)"
        policy = [] if field["apply"] == "always" else [field["apply"]]
        if field["empty"]:
            policy.append(f"empty: {field['on_empty']}")
        via = " | ".join(
            part for part in (field["source"], ", ".join(field["transforms"]), *policy) if part
        )
        now = ""
        if target is not None and field["present"]:
            now = (
                "  (unchanged)"
                if field["target"] == field["value"]
                else (f"  (target now: {field['target']!r})")
            )
        lines.append(f"  {field['key']:<{width}} = {shown} <- {via}{now}")
        if field["error"]:
            lines.append(f"  {'':<{width}}   ERROR: {field['error']}")
    lines.append("")
    if target is None:
        lines.append("Target: no user with this key yet.")
    else:
        state = "suspended" if target["suspended"] else "active"
        extra = "" if target["managed"] else ", not managed by the sync"
        extra += ", marked excluded" if target["excluded"] else ""
        lines.append(f"Target: user {target['key']} is {state}{extra}.")
    return "\n".join(lines)


def _cmd_check(args: argparse.Namespace, console: Console) -> int:
    config = load_config(args.config)
    # Build what plan and apply build, so that check fails where they would (exit code 2):
    # the sink (e.g. its state folder inside the drop folder) and the Lucca reader.
    config.sink(os.environ, secrets=False).close()
    section = config.lucca
    api = "Lucca API (OAuth client credentials)" if section.uses_oauth else "legacy API (API key)"
    lines = [
        f"Configuration {args.config}: OK",
        f"  Lucca:   {section.base_url}, {api}",
        f"  rules:   {', '.join(rules_module.rule_name(r) for r in config.rules) or '(none)'}"
        f" — excluded employees: {config.rules_section.on_excluded}",
        f"  mapping: {', '.join(sorted(config.mapping.fields))}",
        f"  sink:    {config.describe_sink()}",
        f"  sync:    mode {config.sync.mode}"
        + (
            f", a full read every {config.sync.full_every} runs"
            if config.sync.mode == "auto"
            else ""
        ),
    ]
    data: dict[str, object] = {
        "config": str(args.config),
        "valid": True,
        "api": "lucca-api" if section.uses_oauth else "v3",
        "lucca": None,
    }
    passphrase_env = getattr(config.sink_section, "private_key_passphrase_env", None)
    if passphrase_env is not None and not os.environ.get(passphrase_env, "").strip():
        lines.append(f"  note:    the SFTP key passphrase variable {passphrase_env} is not set")
    try:
        directory = config.directory(os.environ)
    except MissingSecretError as error:
        # Only a secret absent from this environment is tolerated: the file itself is valid.
        lines += ["", f"Lucca not contacted: {error.problems[0]}"]
        console.say("\n".join(lines))
        console.report(data)
        return EXIT_OK
    if section.uses_oauth:
        seen = _probe_lucca_api(config, os.environ)
        lines += ["", *_lucca_api_lines(config, seen)]
    else:
        seen = _probe(config, directory)
        lines += ["", *_api_key_lines(seen)]
    data["lucca"] = seen
    console.say("\n".join(lines))
    console.report(data)
    return EXIT_OK


def _api_key_lines(seen: Mapping[str, Any]) -> list[str]:
    lines = [f"Lucca: the API key works ({seen['requests']} request, first page)."]
    lines.append(f"  employees on the first page: {seen['employees']}")
    lines.append(
        "  former employees: "
        + (
            f"visible ({seen['former']} on the first page)"
            if seen["former"]
            else "none seen — if the company has leavers, grant the key's role "
            "'See former employees', or they will never be suspended"
        )
    )
    lines.append(
        "  future hires: "
        + (
            f"visible ({seen['upcoming']} on the first page)"
            if seen["upcoming"]
            else "none seen — if hires are planned, grant 'See future employees'"
        )
    )
    for code, count in seen["flags"].items():
        lines.append(
            f"  check box {code}: "
            + (
                f"present for {count} employee(s): the key sees its HR-folder section"
                if count
                else "never present — either nobody has it set or the key lacks view access "
                "to the HR-folder section that holds it (Lucca cannot tell which)"
            )
        )
    if seen["malformed"]:
        lines.append(f"  malformed records on the first page: {seen['malformed']}")
    return lines


def _probe(config: Config, directory: LuccaDirectory) -> dict[str, Any]:
    """One request: the first page of everyone, former employees included."""
    today = config.today()
    pager = directory.list_employees(include_former=True, strict=False, today=today)
    page = next(iter(pager.by_page()), [])
    flags = [rule for rule in _walk(config.rules) if isinstance(rule, rules_module.SkipFlag)]
    return {
        "requests": pager.requests_made,
        "employees": len(page) + len(pager.errors),
        "former": sum(1 for e in page if e.status(today) == "former"),
        "upcoming": sum(1 for e in page if e.status(today) == "upcoming"),
        "extended_data": sum(1 for e in page if e.extended_data),
        "flags": {flag.code: sum(1 for e in page if flag.present_in(e)) for flag in flags},
        "malformed": len(pager.errors),
    }


def _probe_lucca_api(config: Config, environ: Mapping[str, str]) -> dict[str, Any]:
    """One request (after the token): the first page of ``/lucca-api/employees``.

    A full read joins several resources (departments, establishments, custom fields) before
    its first employee; the check only asks for the employees' statuses, so it stays cheap.
    """
    section = config.lucca
    credential = config.credential(environ)
    assert isinstance(credential, ClientCredentials)  # noqa: S101 - uses_oauth was checked
    http = LuccaHttp(
        section.base_url,
        credential,
        timeout=section.timeout,
        retries=section.retries,
        requests_per_minute=section.requests_per_minute,
        headers={"Api-Version": API_VERSION},
    )
    query = [("status", "active,upcoming,deactivated"), ("limit", str(MAX_LIMIT))]
    reply = http.get_json(EMPLOYEES, query)
    body = reply.body
    items = body.get("items") if isinstance(body, dict) else None
    statuses = [
        item.get("status") if isinstance(item, dict) else None
        for item in (items if isinstance(items, list) else [])
    ]
    return {
        "requests": http.requests_made,
        "client_id": credential.client_id,
        "tokens": credential.tokens_issued,
        "employees": len(statuses),
        "former": statuses.count("deactivated"),
        "upcoming": statuses.count("upcoming"),
        "scopes": list(credential.scopes),
        "deprecations": list(http.deprecations),
    }


def _lucca_api_lines(config: Config, seen: Mapping[str, Any]) -> list[str]:
    section = config.lucca
    lines = [
        f"Lucca: the OAuth client {seen['client_id']!r} works ({seen['requests']} request, "
        "first page of employees, after the token).",
        f"  employees on the first page: {seen['employees']}",
        "  former employees: "
        + (
            f"visible ({seen['former']} on the first page)"
            if seen["former"]
            else "none seen — if the company has leavers, check the client application's "
            "business establishments, or they will never be suspended"
        ),
        "  future hires: "
        + (
            f"visible ({seen['upcoming']} on the first page)"
            if seen["upcoming"]
            else "none seen — if hires are planned, check the client's business establishments"
        ),
        f"  scopes requested: {' '.join(seen['scopes'])}",
    ]
    lines += [f"  WARNING: {notice}" for notice in seen["deprecations"]]
    flags = [r.code for r in _walk(config.rules) if isinstance(r, rules_module.SkipFlag)]
    lines += ["", "Not applicable to the Lucca API:"]
    lines.append(
        "  - the API key role's rights ('See former employees', 'See future employees', "
        "HR-folder sections): the client's scopes and business establishments decide what "
        "it sees"
    )
    if flags:
        lines.append(
            f"  - the check box {', '.join(flags)} is not checked here: custom fields come from "
            "/lucca-api/employee-extensions (scope employee-extensions.readonly); "
            "'lucca-sync preview' shows a ticked employee's decision"
        )
    lines.append(
        "  - incremental reads (sync.mode 'incremental' or 'auto'): the API has no filter on "
        "modification dates; every run reads everyone"
    )
    lines.append("  - Employee.login: always empty (the API has no login)")
    if section.page_size > section.employees_per_request:
        lines.append(
            f"  - page_size {section.page_size}: the API sends at most "
            f"{section.employees_per_request} employees per request"
        )
    return lines


def _walk(rules: Sequence[object]) -> list[object]:
    """Every rule, combinators opened (to find the skip-flag check boxes)."""
    found: list[object] = []
    for rule in rules:
        found.append(rule)
        inner = getattr(rule, "rules", None)
        if isinstance(inner, tuple):
            found += _walk(inner)
        of = getattr(rule, "of", None)
        if of is not None:
            found += _walk([of])
    return found


def _write_text(path: Path, text: str) -> None:
    try:
        path.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise _CommandError(f"cannot write {path}: {exc.strerror or exc}") from exc


# --- running and failing ----------------------------------------------------------------------


class _CommandError(Exception):
    """A runtime failure detected by the command line itself (exit code 1)."""


def _exit_code(error: BaseException) -> int:
    if isinstance(error, ConfigurationError):
        return EXIT_CONFIG
    if isinstance(error, SafetyError):
        return EXIT_SAFETY
    return EXIT_ERROR


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _fail(error: BaseException, *, debug: bool, stderr: TextIO, secrets: Sequence[str]) -> int:
    if debug:
        traceback.print_exception(error, file=stderr)
    if isinstance(error, ConfigurationError) and len(error.problems) > 1:
        first = str(error).splitlines()[0].rstrip(":")
        lines = [f"  {problem}" for problem in error.problems]
        message = f"{first} (listed above)"
    elif isinstance(error, ConfigurationError):
        lines, message = [], _one_line(error.problems[0])
    elif isinstance(error, LuccaSyncError | _CommandError):
        lines, message = [], _one_line(str(error)) or type(error).__name__
    elif isinstance(error, KeyboardInterrupt):
        lines, message = [], "interrupted"
    elif isinstance(error, OSError) and error.strerror:
        # The system's reason only: the file name could be anything.
        lines, message = [], f"{type(error).__name__}: {error.strerror}"
    elif debug:
        lines, message = [], f"unexpected {type(error).__name__}: {_one_line(str(error))}"
    else:
        # The text of an exception lucca_sync did not make may quote HR data: not shown.
        hint = " (run again with --debug for the details and the traceback)"
        lines, message = [], f"unexpected {type(error).__name__}{hint}"
    text = "\n".join([*lines, f"{_PROG}: error: {message}"])
    for secret in secrets:
        text = text.replace(secret, "***")
    stderr.write(text + "\n")
    stderr.flush()
    return 130 if isinstance(error, KeyboardInterrupt) else _exit_code(error)


def _setup_logging(verbose: int, quiet: bool, stderr: TextIO) -> Callable[[], None]:
    """Send lucca_sync's log records to stderr; returns the undo function."""
    logger = logging.getLogger("lucca_sync")
    if quiet:
        level = logging.ERROR
    elif verbose >= 2:
        level = logging.DEBUG
    elif verbose == 1:
        level = logging.INFO
    else:
        level = logging.WARNING
    handler = logging.StreamHandler(stderr)
    handler.setFormatter(logging.Formatter(f"{_PROG}: %(levelname)s: %(name)s: %(message)s"))
    previous = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False

    def undo() -> None:
        logger.removeHandler(handler)
        logger.setLevel(previous[0])
        logger.propagate = previous[1]

    return undo


def _secrets_in_environment(args: argparse.Namespace) -> list[str]:
    """Values that must never be printed: the secrets the configuration points at."""
    config = getattr(args, "config", None)
    return secrets_to_hide(config, os.environ) if config is not None else []


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``lucca-sync`` with ``argv`` (default: the process arguments).

    Returns:
        The exit code: 0 success, 1 runtime error, 2 configuration or usage error, 3 safety stop.
        Usage errors (and ``--help``/``--version``) exit through ``SystemExit`` from argparse.
    """
    stdout, stderr = sys.stdout, sys.stderr
    args = build_parser().parse_args(argv)
    show_progress = not args.quiet and stderr.isatty()
    progress = Progress(stderr if show_progress else None)
    console = Console(stdout, json_mode=args.json_report, progress=progress)
    undo_logging = _setup_logging(args.verbose, args.quiet, stderr)
    handler: Callable[[argparse.Namespace, Console], int] = args.handler
    try:
        return handler(args, console)
    except (LuccaSyncError, _CommandError, OSError, KeyboardInterrupt, Exception) as error:
        progress.clear()
        return _fail(error, debug=args.debug, stderr=stderr, secrets=_secrets_in_environment(args))
    finally:
        progress.clear()
        undo_logging()
