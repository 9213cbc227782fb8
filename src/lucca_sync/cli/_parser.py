"""The argument parser: global options, then one sub-command per module of this package."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

from lucca_sync import __version__
from lucca_sync.cli._check import _cmd_check
from lucca_sync.cli._console import _PROG
from lucca_sync.cli._demo import _cmd_demo
from lucca_sync.cli._history import _cmd_history
from lucca_sync.cli._plan import _cmd_apply, _cmd_plan
from lucca_sync.cli._preview import _cmd_preview
from lucca_sync.cli._state import _cmd_rebuild_state

__all__ = ["UsageError", "build_parser"]

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


class UsageError(Exception):
    """The arguments are wrong (exit code 2); ``usage`` is the command's usage line."""

    def __init__(self, message: str, usage: str) -> None:
        self.usage = usage
        super().__init__(message)


class _Parser(argparse.ArgumentParser):
    """argparse, except that a usage error is raised (``main`` reports it in the log format
    asked for) instead of printed and exited."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.format_usage())


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
    group.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=default("text"),
        help="stderr as timestamped text lines (default), or one JSON object per line ending "
        "with the run's outcome (for schedulers and log collectors)",
    )
    if json_flag:
        group.add_argument(
            "--json",
            action="store_true",
            dest="json_report",
            default=default(False),
            help="print a machine-readable JSON report on stdout instead of text",
        )


def _lock_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait-for-lock",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="if another run is using the sink's state, wait up to SECONDS for it to finish "
        "(default: fail at once, naming that run)",
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
    parser = _Parser(
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
    plan.add_argument(
        "--show-excluded",
        action="store_true",
        help="list every employee kept out by a rule, not only the changes to exclusions",
    )
    _lock_option(plan)
    plan.set_defaults(handler=_cmd_plan)

    apply = command(
        "apply",
        "apply a reviewed plan, or plan and apply in one go",
        "Without --plan: read Lucca, plan and apply (a safety stop exits with code 3 and "
        "writes nothing). With --plan PLAN.json --expect-digest DIGEST: apply exactly that "
        "reviewed plan, refused unless its digest is the one reviewed; naming the digest also "
        "approves a plan that trips a safety limit. A plan file is refused once the target "
        "changed since it was made (another apply published) or once it is older than "
        "sync.plan_max_age_hours (24 by default): plan again.",
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
    _lock_option(apply)
    apply.set_defaults(handler=_cmd_apply)

    rebuild = command(
        "rebuild-state",
        "rebuild the Elevo sink's state after it was lost, moved or damaged",
        "Rebuild the state that records what Elevo holds, from the users file published at "
        "the target (the drop folder, the SFTP server), from a copy of it (--from-file) or "
        "from an export of Elevo's directory (--from-export). Run it when a plan stops "
        "because the state is missing or does not match; nothing is delivered. The replaced "
        "state, if any, is kept beside it.",
    )
    _config_option(rebuild)
    source = rebuild.add_mutually_exclusive_group()
    source.add_argument(
        "--from-file", type=Path, metavar="PATH", help="a copy of the last published users file"
    )
    source.add_argument(
        "--from-export",
        type=Path,
        metavar="PATH",
        help="an export of Elevo's directory (CSV with Elevo's keys as header)",
    )
    _lock_option(rebuild)
    rebuild.set_defaults(handler=_cmd_rebuild_state)

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

    history = command(
        "history",
        "list the runs applied to the target, or show one",
        "List the runs recorded in the sink's run history (one per apply: the day, how Lucca "
        "was read, what was created, updated, reactivated, excluded and suspended, the plan's "
        "digest, and the safety limits approved by digest), or show one run with the keys of "
        "the users it suspended and reactivated. The rolling safety limits count these runs. "
        "Reads only the state folder: neither Lucca nor Elevo is contacted.",
    )
    _config_option(history)
    history.add_argument(
        "action",
        nargs="?",
        choices=("list", "show"),
        default="list",
        help="list the runs (the default), or show one",
    )
    history.add_argument("run", nargs="?", type=int, metavar="RUN", help="the run to show")
    history.add_argument(
        "--last", type=int, default=20, metavar="N", help="list the last N runs (default 20)"
    )
    history.add_argument(
        "--restart",
        action="store_true",
        help="start a new, empty run history after the old one was lost or damaged (the "
        "rolling safety limits then count from zero; the old file is kept, renamed)",
    )
    history.set_defaults(handler=_cmd_history)
    return parser
