"""``lucca-sync preview EMPLOYEE_ID``: what the sync would do with one employee, and why."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any

from lucca_sync import rules as rules_module
from lucca_sync._employee import Employee
from lucca_sync.cli._config import Config
from lucca_sync.cli._config_load import load_config
from lucca_sync.cli._console import EXIT_OK, Console
from lucca_sync.cli._progress import Progress, ProgressSource
from lucca_sync.exceptions import MappingError
from lucca_sync.rules import RuleContext


def _cmd_preview(args: argparse.Namespace, console: Console) -> int:
    config = load_config(args.config)
    data = _preview(config, args.employee_id, console.progress)
    console.facts["outcome"] = "previewed"
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
    explained = config.mapping.explain(employee)
    # What plan() records for this employee: a field that fails, or the record as a whole
    # (no e-mail nor login, a value Elevo would refuse).
    errors = [f"{field.key}: {field.error}" for field in explained if field.error]
    if not errors:
        try:
            config.mapping.map(employee)
        except MappingError as error:
            errors.append(str(error))
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
        "errors": errors,
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
            for field in explained
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
    elif data["errors"]:
        lines.append("Decision: NOT synchronised — the mapping fails (a plan error, see below)")
        lines += [f"  ERROR: {error}" for error in data["errors"]]
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
