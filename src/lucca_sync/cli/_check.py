"""``lucca-sync check``: validate a configuration and prove the whole path, changing nothing.

Lucca (one request with the credential: what it sees), the state folder and the delivery (a
test file written and removed, over SFTP too) are each checked; every failure is one line saying
what to fix, and any failure makes the command exit with code 1.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from lucca_sync import rules as rules_module
from lucca_sync._lucca import ClientCredentials, LuccaDirectory
from lucca_sync._lucca._http import LuccaHttp
from lucca_sync._lucca._lucca_api import API_VERSION, EMPLOYEES, MAX_LIMIT
from lucca_sync.cli._config import Config, DirectorySinkSection, MissingSecretError
from lucca_sync.cli._config_load import load_config
from lucca_sync.cli._console import EXIT_OK, Console, _CommandError
from lucca_sync.elevo import RecipientKey
from lucca_sync.elevo._encryption import EXPIRY_WARNING_DAYS
from lucca_sync.exceptions import ConfigurationError, LuccaSyncError


def _cmd_check(args: argparse.Namespace, console: Console) -> int:
    config = load_config(args.config)
    # Build what plan and apply build, so that check fails where they would (exit code 2):
    # the sink (e.g. its state folder inside the drop folder, Elevo's key) and the Lucca reader.
    sink = config.sink(os.environ, secrets=False)
    sink.close()
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
    if sink.encryption_key is not None:
        lines += _encryption_lines(sink.encryption_key)
        data["encryption"] = _encryption_data(sink.encryption_key)
    failures: list[str] = []
    lines += ["", *_check_lucca(config, data, failures)]
    lines += ["", *_check_target(config, data, failures)]
    console.facts["outcome"] = "checked"
    console.say("\n".join(lines))
    console.report(data)
    if failures:
        raise CheckFailedError(failures)
    return EXIT_OK


class CheckFailedError(_CommandError):
    """``check`` found parts of the path that do not work (exit code 1); one line each."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(f"check found {len(self.problems)} problem(s), listed above")


def _check_lucca(config: Config, data: dict[str, object], failures: list[str]) -> list[str]:
    """One request to Lucca with the credential: what it sees, or why it failed."""
    try:
        directory = config.directory(os.environ)
    except MissingSecretError as error:
        # Only a secret absent from this environment is tolerated: the file itself is valid.
        return [f"Lucca not contacted: {error.problems[0]}"]
    try:
        if config.lucca.uses_oauth:
            seen = _probe_lucca_api(config, os.environ)
            lines = _lucca_api_lines(config, seen)
        else:
            seen = _probe(config, directory)
            lines = _api_key_lines(seen)
    except ConfigurationError:
        raise
    except LuccaSyncError as error:
        failures.append(f"Lucca: {_one_line(str(error))}")
        return [f"Lucca: FAILED — {_one_line(str(error))}"]
    data["lucca"] = seen
    return lines


def _check_target(config: Config, data: dict[str, object], failures: list[str]) -> list[str]:
    """The state folder and the delivery, each proven with a test file that is removed."""
    try:
        sink = config.sink(os.environ)
    except MissingSecretError as error:
        data["target"] = None
        return [f"Target not contacted: {error.problems[0]}"]
    try:
        problems = sink.probe()
    finally:
        sink.close()
    data["target"] = {"ok": not problems, "problems": list(problems)}
    if problems:
        failures.extend(f"target: {problem}" for problem in problems)
        return [f"Target: FAILED — {problem}" for problem in problems]
    what = (
        "the drop folder"
        if isinstance(config.sink_section, DirectorySinkSection)
        else "the SFTP server (host key, login, remote folder)"
    )
    return [
        f"Target: the state folder and {what} work (a test file was written, "
        "then removed; nothing was published)."
    ]


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _encryption_lines(key: RecipientKey) -> list[str]:
    lines = [f"  encrypt: for Elevo's {key.describe()}"]
    if key.expires is not None and key.expires_within(EXPIRY_WARNING_DAYS):
        days = (key.expires.date() - datetime.now(UTC).date()).days
        lines.append(
            f"  warning: Elevo's OpenPGP key expires in {days} day(s), on "
            f"{key.expires.date().isoformat()}: ask Elevo support for the renewed key and "
            f"replace {key.path}"
        )
    return lines


def _encryption_data(key: RecipientKey) -> dict[str, object]:
    return {
        "fingerprint": key.fingerprint,
        "user_ids": list(key.user_ids),
        "expires": None if key.expires is None else key.expires.isoformat(),
        "expires_soon": key.expires_within(EXPIRY_WARNING_DAYS),
        "subkeys": list(key.subkeys),
    }


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
