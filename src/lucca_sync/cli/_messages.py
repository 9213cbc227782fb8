"""Messages for the person at the terminal: what stopped, and the ``lucca-sync`` commands to run
next (the library's own messages name Python calls instead).
"""

from __future__ import annotations

import argparse
import shlex

from lucca_sync.cli._console import _PROG
from lucca_sync.exceptions import SafetyError

__all__ = ["safety_stop_lines", "safety_stop_message"]

_PLAN_FILE = "plan.json"


def safety_stop_message(error: SafetyError) -> str:
    """The last line of a safety stop."""
    count = max(1, len(error.reasons))
    return f"safety stop: the plan trips {count} safety limit(s); nothing was written"


def safety_stop_lines(error: SafetyError, args: argparse.Namespace | None) -> list[str]:
    """Why the run stopped, then how to review the plan and apply exactly it, as commands.

    Args:
        error: The stop, with its ``reasons`` and the plan's ``digest``.
        args: The command line, for the configuration file and a plan file already written.
    """
    lines = ["Safety stop: nothing was written.", *(f"  - {reason}" for reason in error.reasons)]
    if error.digest is None:
        return lines
    config = getattr(args, "config", None)
    with_config = f" --config {shlex.quote(str(config))}" if config is not None else ""
    written = getattr(args, "plan_json", None)
    if getattr(args, "command", None) == "plan" and written not in (None, "-"):
        lines.append(f"The plan is in {written}. If it is right, apply exactly that plan:")
        plan_file = str(written)
    else:
        lines.append("Review the plan; if it is right, apply exactly that plan:")
        lines.append(f"  {_PROG} plan{with_config} --json {_PLAN_FILE}")
        plan_file = _PLAN_FILE
    lines.append(
        f"  {_PROG} apply{with_config} --plan {shlex.quote(plan_file)} "
        f"--expect-digest {error.digest}"
    )
    return lines
