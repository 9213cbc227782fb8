"""lucca_sync: keep an Elevo account in step with a Lucca HR directory.

Read Lucca with :class:`LuccaDirectory`, decide who is synchronised with exclusion rules, map
fields with :class:`FieldMapping`, review the typed :class:`Plan` from :func:`plan`, and
:func:`apply` it to a :class:`Sink` such as :class:`lucca_sync.elevo.ElevoSink`.

The source tree reads as the pipeline, each package's docstring is its map:

- ``_lucca/`` — reading Lucca (both APIs) into ``_employee.py``'s `Employee`;
- ``rules/`` — who is kept out, and why (`ExclusionRule`, built-ins, combinators, config);
- ``mapping/`` — an employee to a target record (`FieldMapping`, sources, transforms);
- ``_engine/`` — `plan` (read, classify, match, diff, safety) and `apply`;
- ``sinks.py`` — the `Sink` base class a target implements; ``elevo/`` — `ElevoSink`;
- ``exceptions.py`` — the error tree under `LuccaSyncError`;
- ``cli/`` — the ``lucca-sync`` command line; ``testing/`` — fakes and conformance checks.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from lucca_sync._employee import Employee, Ref
from lucca_sync._engine._apply import Outcome, SyncReport, apply, sync
from lucca_sync._engine._plan import plan
from lucca_sync._engine._plan_model import (
    Create,
    Exclude,
    FieldChange,
    Plan,
    PlanError,
    Reactivate,
    SafetyViolation,
    Suspend,
    Update,
)
from lucca_sync._engine._safety import Safety
from lucca_sync._lucca import ApiKey, ClientCredentials, EmployeePager, LuccaDirectory
from lucca_sync.mapping import FieldMapping
from lucca_sync.rules import DEFAULT_RULES, Exclusion, ExclusionRule, RuleContext
from lucca_sync.sinks import Sink, TargetUser

try:
    __version__ = version("lucca-sync")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = [
    "DEFAULT_RULES",
    "ApiKey",
    "ClientCredentials",
    "Create",
    "Employee",
    "EmployeePager",
    "Exclude",
    "Exclusion",
    "ExclusionRule",
    "FieldChange",
    "FieldMapping",
    "LuccaDirectory",
    "Outcome",
    "Plan",
    "PlanError",
    "Reactivate",
    "Ref",
    "RuleContext",
    "Safety",
    "SafetyViolation",
    "Sink",
    "Suspend",
    "SyncReport",
    "TargetUser",
    "Update",
    "__version__",
    "apply",
    "plan",
    "sync",
]
