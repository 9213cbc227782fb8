"""The typed plan: what a sync would change, reviewable, serialisable and hash-stable.

A :class:`Plan` is a value. It holds one tuple per kind of action, each in a deterministic order
(creates and reactivations managers-first, everything else by key), the employees kept out by
rules, the per-employee errors, warnings and the safety limits it trips. ``to_json()`` and
``Plan.from_json()`` use one cattrs converter (:data:`CONVERTER`), which is the wire format of
plan and report files; ``digest`` is the SHA-256 of the canonical JSON of what the plan *does*
and of what it is bound to (the target's generation, the sync state it saves, the day it was
made), so that approving a digest approves all of it.

Plan files contain HR field values (names, e-mails, job titles): treat them as HR data. They
never contain credentials.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Final, Literal

import attrs
import cattrs
from cattrs.gen import make_dict_unstructure_fn, override

from lucca_sync._engine._sync_state import SyncState
from lucca_sync.exceptions import ConfigurationError, PlanMismatchError
from lucca_sync.rules import Exclusion
from lucca_sync.sinks import _frozen_fields

__all__ = [
    "CONVERTER",
    "Create",
    "Exclude",
    "FieldChange",
    "Plan",
    "PlanError",
    "PlanStats",
    "Reactivate",
    "SafetyViolation",
    "Stage",
    "Suspend",
    "Update",
    "key_order",
]

#: Where a per-employee error arose: reading Lucca, an exclusion rule, the mapping, matching
#: the employee to a target user, or the target refusing the record (``Sink.check_plan``).
Stage = Literal["read", "rule", "mapping", "match", "target"]

_FORMAT = "lucca_sync.plan"
# 2: the digest also covers the target generation, the sync state and the day of planning.
_VERSION = 2


def key_order(key: str) -> tuple[int, int, str]:
    """Sort key for target keys: numeric keys (Lucca ids) by value, then the others as text."""
    return (0, int(key), "") if key.isdecimal() else (1, 0, key)


@attrs.frozen
class FieldChange:
    """One field of a target user that a plan changes.

    Args:
        field: The target key (``job_title``).
        before: The target's current value (``None`` when empty or absent).
        after: The value the plan writes (``None`` clears the field).
    """

    field: str
    before: str | None
    after: str | None


def _changes_dict(changes: tuple[FieldChange, ...]) -> dict[str, str | None]:
    return {change.field: change.after for change in changes}


@attrs.frozen
class Create:
    """Create a new, managed, active target user.

    Args:
        key: The new user's key (the Lucca id as text).
        employee_id: The Lucca employee.
        fields: The complete mapped record, key and resolved manager included, in the
            mapping's order (``uniq_identifier`` first, ``manager_uniq_identifier`` last).
        depth: Position in the manager tree among the users this plan creates or reactivates
            (0 = reports to nobody in the plan); apply goes by increasing depth, managers first.
    """

    key: str
    employee_id: int
    # A read-only view, in the order given; the planner hands over records it no longer uses.
    fields: Mapping[str, str | None] = attrs.field(converter=_frozen_fields, hash=False)
    depth: int = 0

    def __repr__(self) -> str:
        return f"Create(key={self.key!r}, employee_id={self.employee_id!r})"


@attrs.frozen
class Update:
    """Change some fields of an existing target user, or take it over.

    Args:
        key: The target user's current key.
        employee_id: The Lucca employee it corresponds to.
        changes: Only the fields that differ, sorted by field, each with ``before`` and ``after``.
        new_key: Set when the plan *adopts* an unmanaged target user found by a fallback key
            (``match_by``): from then on the user is known under ``new_key`` and managed.
        reason: Why the update exists beyond its changes ("adopted: matched by email",
            "back in scope"); empty for a plain field update.
    """

    key: str
    employee_id: int
    changes: tuple[FieldChange, ...] = ()
    new_key: str | None = None
    reason: str = ""

    @property
    def values(self) -> dict[str, str | None]:
        """The changes as the sink receives them: ``{field: new value}``."""
        return _changes_dict(self.changes)

    def __repr__(self) -> str:
        fields = [change.field for change in self.changes]
        return f"Update(key={self.key!r}, fields={fields!r}, new_key={self.new_key!r})"


@attrs.frozen
class Reactivate:
    """Reactivate a suspended, managed target user who is back in scope.

    Args:
        key: The target user's key.
        employee_id: The Lucca employee.
        changes: Fields that differ, applied with the reactivation (possibly none).
        depth: As for :class:`Create`; creates and reactivations are ordered together.
    """

    key: str
    employee_id: int
    changes: tuple[FieldChange, ...] = ()
    depth: int = 0

    @property
    def values(self) -> dict[str, str | None]:
        """The changes as the sink receives them: ``{field: new value}``."""
        return _changes_dict(self.changes)

    def __repr__(self) -> str:
        fields = [change.field for change in self.changes]
        return f"Reactivate(key={self.key!r}, fields={fields!r})"


@attrs.frozen
class Suspend:
    """Suspend a managed, active target user (never delete).

    Args:
        key: The target user's key.
        employee_id: The Lucca employee, when the key is a Lucca id.
        reason: ``"contract ended on YYYY-MM-DD"``, ``"no longer visible in Lucca — …"`` or
            ``"excluded: …"`` (with ``on_excluded="suspend"``).
    """

    key: str
    employee_id: int | None
    reason: str


@attrs.frozen
class Exclude:
    """Mark a target user out of scope: the sink leaves it exactly as it is from now on.

    Args:
        key: The target user's key.
        employee_id: The Lucca employee a rule excluded.
        rule: The rule's name.
        reason: The rule's reason.
    """

    key: str
    employee_id: int
    rule: str
    reason: str


@attrs.frozen
class PlanError:
    """One problem that kept the plan from deciding about an employee (or about everyone).

    An employee with an error gets no action at all — in particular, it is never suspended. An
    error without ``employee_id`` (a Lucca record whose id could not be read) holds back every
    suspension of the plan, since nobody can be sure to be really gone.

    Args:
        stage: ``"read"``, ``"rule"``, ``"mapping"``, ``"match"`` or ``"target"`` (the
            target would refuse the record, e.g. an e-mail another user already has).
        message: What happened and what to check (ids and field names only, no HR data).
        employee_id: The Lucca employee, when known.
        field: The target or source field concerned, when known.
    """

    stage: Stage
    message: str
    employee_id: int | None = None
    field: str | None = None


@attrs.frozen
class SafetyViolation:
    """A safety limit that the plan trips (see :class:`lucca_sync.Safety`).

    Args:
        limit: The guard's name: ``"max_suspensions"``, ``"window_suspensions"``,
            ``"max_field_changes"``, … (the table of ``docs/reliability.md`` lists them all).
        observed: The measured number (suspensions, ratio of the population read).
        allowed: The limit it exceeds.
        message: What was seen and why it is a risk, in plain words, with the numbers (the
            way to approve the plan is not part of it: see :class:`lucca_sync.Safety`).
        field: The target field concerned, for the guards on one field.
    """

    limit: str
    # Always floats: a plan read back from JSON (where 3 and 3.0 are alike) keeps its digest.
    observed: float = attrs.field(converter=float)
    allowed: float = attrs.field(converter=float)
    message: str
    field: str | None = None


def _frozen_counts(value: Mapping[str, int]) -> Mapping[str, int]:
    return value if isinstance(value, MappingProxyType) else MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class PlanStats:
    """What the plan was made from. Informational: not part of the digest.

    Args:
        employees_read: Employees read from the source (former ones included).
        employees_former: Of those, whose contract has ended.
        employees_kept: Employees in scope that map without error.
        employees_excluded: Employees excluded by a rule.
        target_users: Users the sink reported.
        managed_active: Of those, active users the sync manages.
        requests_made: HTTP requests the read took, when the source counts them.
        requests_by_resource: The same per resource read, in the order first read
            (``{"departments": 1, …, "employees": 95}`` on the Lucca API, ``{"users": 11}``
            on the legacy API); empty when the source does not count them.
        mode: ``"full"`` (everyone was read) or ``"incremental"`` (only the changes were read;
            ``employees_read`` counts those).
        mode_reason: Why the read was full, when incremental was asked for.
    """

    employees_read: int = 0
    employees_former: int = 0
    employees_kept: int = 0
    employees_excluded: int = 0
    target_users: int = 0
    managed_active: int = 0
    requests_made: int | None = None
    requests_by_resource: Mapping[str, int] = attrs.field(
        factory=dict, converter=_frozen_counts, eq=False
    )
    mode: Literal["full", "incremental"] = "full"
    mode_reason: str = ""

    def requests_line(self) -> str | None:
        """``"99 requests to Lucca (employees 95, departments 1, …)"``; ``None`` when uncounted."""
        if self.requests_made is None:
            return None
        detail = ", ".join(f"{name} {count}" for name, count in self.requests_by_resource.items())
        return f"{self.requests_made} requests to Lucca" + (f" ({detail})" if detail else "")


_ACTION_KINDS = ("creates", "reactivations", "updates", "excludes", "suspensions")
_REVIEWED = ("exclusions", "errors", "warnings", "violations")
# What the digest covers: everything a review approves, and what the plan is bound to.
_DIGESTED = (*_ACTION_KINDS, *_REVIEWED, "target_generation")


@attrs.frozen(kw_only=True)
class Plan:
    """A reviewable description of everything a sync would change in a target.

    Made by :func:`lucca_sync.plan`, carried out by :func:`lucca_sync.apply`. Every tuple is in a
    deterministic order that does not depend on the order Lucca returned employees in:
    ``creates`` and ``reactivations`` by manager depth then key (managers before their
    reports), the others by key or employee id.

    Args:
        creates: New target users.
        updates: Field changes, adoptions and users back in scope.
        reactivations: Suspended users back in scope.
        excludes: Target users to mark out of scope (rule exclusions, ``on_excluded="leave"``).
        suspensions: Managed users to suspend, last.
        exclusions: Every employee a rule kept out, with the rule and its reason.
        errors: Per-employee (or global) problems; those employees get no action.
        warnings: Things a reviewer should know (manager cycles, held-back suspensions).
        violations: Safety limits this plan trips; such a plan is only applied when its digest
            is named explicitly (``apply(plan, sink, expected_digest=plan.digest)``).
        today: The date the plan was made for, in the tenant's time zone.
        created_at: When the plan was made (UTC).
        stats: Counts of what the plan was made from.
        sync_state: What :func:`lucca_sync.apply` saves in the sink after a successful apply,
            for the next incremental plan; ``None`` when the source cannot read changes.
        target_generation: The sink's :meth:`~lucca_sync.Sink.generation` when the plan was
            made; :func:`lucca_sync.apply` refuses the plan once the target is at another
            one. ``None`` when the sink keeps no generation.
    """

    creates: tuple[Create, ...] = ()
    updates: tuple[Update, ...] = ()
    reactivations: tuple[Reactivate, ...] = ()
    excludes: tuple[Exclude, ...] = ()
    suspensions: tuple[Suspend, ...] = ()
    exclusions: tuple[Exclusion, ...] = ()
    errors: tuple[PlanError, ...] = ()
    warnings: tuple[str, ...] = ()
    violations: tuple[SafetyViolation, ...] = ()
    today: date
    created_at: datetime
    stats: PlanStats = PlanStats()
    sync_state: SyncState | None = attrs.field(default=None, repr=False)
    target_generation: int | None = None

    def __repr__(self) -> str:
        counts = ", ".join(f"{kind}={count}" for kind, count in self.counts.items())
        return f"Plan(today={self.today.isoformat()}, {counts}, digest={self.digest[:12]!r})"

    @property
    def is_empty(self) -> bool:
        """True when applying the plan would write nothing."""
        return not any(getattr(self, kind) for kind in _ACTION_KINDS)

    @property
    def counts(self) -> dict[str, int]:
        """Number of actions of each kind, plus exclusions, errors and warnings."""
        return {kind: len(getattr(self, kind)) for kind in (*_ACTION_KINDS, *_REVIEWED[:3])}

    @functools.cached_property
    def digest(self) -> str:
        """SHA-256 (hex) of the canonical JSON of everything the plan carries out or binds.

        Covered: the actions, exclusions, errors, warnings, violations, the target generation
        the plan was made at, the sync state it saves (so neither can be edited under an
        approval), the day (UTC) it was made and ``today`` (the run history dates the run by
        it, so it decides which rolling windows count its suspensions). Left out: ``stats``
        and the time of day of ``created_at``: planning twice on the same day against the same
        Lucca and target states gives the same digest, which is what lets an operator approve a
        reviewed plan by its digest and apply exactly that.
        """
        covered: dict[str, object] = {
            name: CONVERTER.unstructure(getattr(self, name)) for name in _DIGESTED
        }
        covered["sync_state"] = None if self.sync_state is None else self.sync_state.canonical
        covered["made_on"] = self.created_at.astimezone(UTC).date().isoformat()
        if self.today.isoformat() != covered["made_on"]:
            # Only when it differs from the day of planning, which is covered already: plans
            # written before today was covered keep their digest in the usual case, and any
            # edit of today still changes the digest.
            covered["today"] = self.today.isoformat()
        canonical = json.dumps(covered, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def to_json(self, *, indent: int | None = 2) -> str:
        """Serialise the plan (with its digest) to JSON; :meth:`from_json` reads it back."""
        data = {"format": _FORMAT, "version": _VERSION, "digest": self.digest}
        data.update(CONVERTER.unstructure(self))
        return json.dumps(data, indent=indent, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Plan:
        """Read a plan written by :meth:`to_json`.

        Raises:
            ConfigurationError: The text is not a lucca_sync plan (every problem listed).
            PlanMismatchError: The plan was edited after it was written: its content no
                longer matches the digest it carries.
        """
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            raise ConfigurationError(f"plan file: not JSON ({exc})") from exc
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ConfigurationError(f"plan file: not a lucca_sync plan (no format {_FORMAT!r})")
        if data.get("version") != _VERSION:
            raise ConfigurationError(
                f"plan file: version {data.get('version')!r} is not supported "
                f"(this lucca_sync reads version {_VERSION}); make the plan again"
            )
        recorded = data.pop("digest", None)
        try:
            plan = CONVERTER.structure(
                {k: v for k, v in data.items() if k not in ("format", "version")}, cls
            )
        except Exception as exc:
            problems = tuple(cattrs.transform_error(exc, path="plan"))
            raise ConfigurationError(
                "plan file: invalid content: " + "; ".join(problems), problems
            ) from exc
        if recorded != plan.digest:
            raise PlanMismatchError(
                f"plan file: its content does not match its digest ({str(recorded)[:12]}… "
                f"recorded, {plan.digest[:12]}… computed): it was edited after it was written"
            )
        return plan

    def summary(self, *, show_values: bool = False, show_exclusions: bool = False) -> str:
        """A human-readable table of the plan, one line per action.

        Changes to exclusions are actions, listed as such: an employee a rule newly excludes
        (``exclude``, or ``suspend`` with ``on_excluded="suspend"``) and one no longer excluded
        (``update … no longer excluded``). The employees rules keep out as before are one
        line with their number, unless ``show_exclusions``.

        Args:
            show_values: Also show field values (``before -> after``). Off by default because
                values are HR data; field names and employee ids are always shown.
            show_exclusions: List every employee kept out by a rule, one line each.
        """
        bound = (
            ""
            if self.target_generation is None
            else f" — target generation {self.target_generation}"
        )
        lines = [
            f"Plan for {self.today.isoformat()} — digest {self.digest[:12]}{bound}",
            *(f"  {kind:<14}{count:>6}" for kind, count in self.counts.items()),
        ]
        requests = self.stats.requests_line()
        if requests is not None:
            lines.append(f"  {requests}")

        def changes(items: tuple[FieldChange, ...]) -> str:
            if not show_values:
                return ", ".join(change.field for change in items)
            return ", ".join(f"{c.field}: {c.before!r} -> {c.after!r}" for c in items)

        rows: list[tuple[str, str, str]] = []
        for create in self.creates:
            if show_values:
                detail = ", ".join(f"{name}={value!r}" for name, value in create.fields.items())
            else:
                detail = f"{len(create.fields)} fields"
            rows.append(("create", create.key, detail))
        rows.extend(("reactivate", r.key, changes(r.changes)) for r in self.reactivations)
        for update in self.updates:
            extra = [_BACK_IN_SCOPE.get(update.reason, update.reason)] if update.reason else []
            if update.new_key is not None:
                extra.append(f"new key {update.new_key}")
            rows.append(("update", update.key, "; ".join([changes(update.changes), *extra])))
        rows.extend(
            ("exclude", e.key, f"newly excluded by {e.rule}: {e.reason}") for e in self.excludes
        )
        rows.extend(("suspend", s.key, s.reason) for s in self.suspensions)
        if rows:
            width = max(len(key) for _, key, _ in rows)
            lines.append("")
            lines.extend(
                f"{kind:<11} {key:<{width}}  {detail}".rstrip() for kind, key, detail in rows
            )
        lines.extend(self._exclusion_lines(show_exclusions))
        for error in self.errors:
            who = "-" if error.employee_id is None else str(error.employee_id)
            lines.append(f"ERROR      {who}  [{error.stage}] {error.message}")
        lines.extend(f"WARNING    {warning}" for warning in self.warnings)
        lines.extend(f"SAFETY     {violation.message}" for violation in self.violations)
        return "\n".join(lines)

    def _exclusion_lines(self, show_all: bool) -> list[str]:
        """Every exclusion, or the number of those the plan does not act on."""
        if show_all:
            return [
                f"excluded   {exclusion.employee_id}  {exclusion.rule}: {exclusion.reason}"
                for exclusion in self.exclusions
            ]
        acted: set[int | None] = {e.employee_id for e in self.excludes}
        acted.update(s.employee_id for s in self.suspensions if s.reason.startswith("excluded:"))
        unchanged = sum(1 for e in self.exclusions if e.employee_id not in acted)
        if not unchanged:
            return []
        return [
            f"excluded   {unchanged} employee(s) kept out by rules, with nothing to change for "
            "them in the target (not listed)"
        ]


#: How the summary words the planner's reason for taking a target user back in scope.
_BACK_IN_SCOPE: Final = {"back in scope": "no longer excluded (back in scope)"}


def _make_converter() -> cattrs.Converter:
    # Plans are read from files: every field of every class must be known.
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_unstructure_hook(date, lambda value: value.isoformat())
    converter.register_structure_hook(date, lambda value, _: date.fromisoformat(value))
    # datetime subclasses date; the more specific hooks win.
    converter.register_unstructure_hook(datetime, lambda value: value.isoformat())
    converter.register_structure_hook(datetime, lambda value, _: datetime.fromisoformat(value))
    # The record of a create holds text only: copied as it is, not value by value (a plan of
    # 100k creates is unstructured for its digest; this was most of that time).
    converter.register_unstructure_hook(
        Create, make_dict_unstructure_fn(Create, converter, fields=override(unstruct_hook=dict))
    )
    # Left out when unset, so that plans written before it existed keep their digest.
    converter.register_unstructure_hook(
        SafetyViolation,
        make_dict_unstructure_fn(SafetyViolation, converter, field=override(omit_if_default=True)),
    )
    return converter


#: The one cattrs converter of lucca_sync's JSON files (plans and sync reports).
CONVERTER = _make_converter()
