"""The planner's passes over one read: classify, match, resolve managers, diff, decide.

`_Planner` holds the employees read and the target users, and builds the `Plan` in the order
:mod:`lucca_sync._engine._plan` describes. It is one class because every pass reads and
narrows the same state (the employees still unclassified, the target users still unmatched);
splitting it would pass that state between modules for no gain.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from operator import attrgetter
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal, NamedTuple, Protocol

import attrs

from lucca_sync._employee import Employee
from lucca_sync._engine._history import SuspensionKind, Window
from lucca_sync._engine._identity import identity_conflicts
from lucca_sync._engine._managers import ManagerFallback, resolve_managers
from lucca_sync._engine._measures import empty_fields, field_changes
from lucca_sync._engine._plan_model import (
    Create,
    Exclude,
    FieldChange,
    Plan,
    PlanError,
    PlanStats,
    Reactivate,
    Suspend,
    Update,
    key_order,
)
from lucca_sync._engine._safety import Safety
from lucca_sync._engine._source import SourceRead
from lucca_sync._engine._target_check import CheckPlan, target_refusals
from lucca_sync.exceptions import MappingError, RuleError
from lucca_sync.mapping import FieldMapping
from lucca_sync.mapping._fields import MANAGER_FIELD
from lucca_sync.rules import Exclusion, RuleContext, SkipFlag, decide

if TYPE_CHECKING:
    from lucca_sync.rules import ExclusionRule
    from lucca_sync.sinks import TargetUser

__all__ = ["OnExcluded", "RecordMapping"]

logger = logging.getLogger("lucca_sync.plan")

#: What happens to a target user whose employee a rule now excludes.
OnExcluded = Literal["leave", "suspend"]

CONTRACT_ENDED = "contract ended on"
NOT_VISIBLE = (
    "no longer visible in Lucca — check the API key's rights (former employees, establishments)"
)


def suspension_kind(reason: str) -> SuspensionKind:
    """Why a :class:`Suspend` of this planner suspends, as the run history records it."""
    if reason.startswith(CONTRACT_ENDED):
        return "departed"
    return "not_visible" if reason == NOT_VISIBLE else "excluded"


class RecordMapping(Protocol):
    """What the planner needs from a mapping; :class:`lucca_sync.FieldMapping` is one."""

    @property
    def create_only(self) -> frozenset[str]:
        """Target keys written when a user is created, never updated afterwards."""
        ...

    def map(self, employee: Employee) -> Mapping[str, str | None]:
        """The target record of ``employee``; raises MappingError."""
        ...


def _as_id(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdecimal() else None


def _is_live(user: TargetUser | None) -> bool:
    """A managed, active target user: the only kind a plan may suspend or exclude."""
    return user is not None and user.managed and not user.suspended


class _Match(NamedTuple):
    # A tuple, not an attrs class: one is made per kept employee.
    user: TargetUser | None  # None: create
    adopted_by: str | None = None  # the key that found an unmanaged user to adopt


_CREATE = _Match(None)  # shared by every employee the target does not hold yet


@attrs.define
class _Planner:
    read: SourceRead  # without its employees: see ``employees``
    # The employees read, emptied by _classify as it goes.
    employees: list[Employee]
    target: dict[str, TargetUser]
    rules: tuple[ExclusionRule, ...]
    mapping: RecordMapping
    today: date
    key_field: str
    manager_field: str | None
    on_excluded: OnExcluded
    match_by: tuple[str, ...]
    manager_fallback: ManagerFallback
    # The target links an adopted user's own identifier to the Lucca id (Sink.keeps_identifiers).
    keeps_identifiers: bool = False
    errors: list[PlanError] = attrs.field(factory=list)
    warnings: list[str] = attrs.field(factory=list)
    # Employee id -> Lucca manager id, for rules and for walking past unsynced managers.
    hierarchy: Mapping[int, int | None] = attrs.field(factory=dict)
    # Incremental reads: manager changes of target users that were not re-read.
    manager_updates: list[Update] = attrs.field(factory=list)
    # The ids of the employees read, in id order.
    read_ids: list[int] = attrs.field(factory=list)
    # Skip-flag rules whose check box no employee read carries (see _hidden_flags).
    hidden: list[SkipFlag] = attrs.field(factory=list)
    # From the sink's run history (None: it keeps none): target key -> why it was last
    # suspended, and what the runs of the rolling window did.
    suspended_as: Mapping[str, SuspensionKind] | None = None
    window: Window | None = None
    # The sink's check_plan: which records the target would refuse (None: it refuses none).
    check_plan: CheckPlan | None = None
    # The mapping's create-only keys (a property that builds a set: read once).
    create_only: frozenset[str] = attrs.field(init=False)
    # Kept employee id -> Lucca manager id, when the mapping writes exactly that as the
    # manager reference (a FieldMapping): the records' manager texts need no parsing back.
    manager_ids: dict[int, int | None] | None = attrs.field(init=False)

    @create_only.default
    def _create_only(self) -> frozenset[str]:
        return self.mapping.create_only

    @manager_ids.default
    def _manager_ids(self) -> dict[int, int | None] | None:
        by_id = isinstance(self.mapping, FieldMapping) and self.manager_field == MANAGER_FIELD
        return {} if by_id else None

    def build(self, safety: Safety, *, mode_reason: str = "") -> Plan:
        self.errors.extend(self.read.errors)
        self.warnings.extend(self.read.warnings)
        if self.read.hierarchy is None:
            # A full read: its employees are the hierarchy (their ids are unique, in order).
            self.hierarchy = {employee.id: employee.manager_id for employee in self.employees}
            self.read_ids = list(self.hierarchy)
        else:
            self.hierarchy = self.read.hierarchy
            self.read_ids = [employee.id for employee in self.employees]
        departed, exclusions, records = self._classify()
        matches = self._match(records)
        records = {employee_id: records[employee_id] for employee_id in matches}
        excludes, suspensions = self._retire(departed, exclusions)
        creates, updates, reactivations = self._settle(records, matches, excludes, suspensions)
        stats = self._stats(len(departed), len(records), len(exclusions), mode_reason)
        # An incremental read holds the changes only: the population is Lucca's count.
        if self.read.population is None:
            # Leavers do not make a read look complete: they are exactly who it is not about.
            population = stats.employees_read - stats.employees_former
            employees_read = stats.employees_read
        else:
            population = employees_read = self.read.population
        changes = field_changes(updates)
        empty = empty_fields(
            () if self.read.partial else records.values(),
            self.mapping,
            changes,
            fixed=(self.key_field, self.manager_field),
        )
        self.warnings.extend(
            f"field {field}: its source {source} has no value for any employee read: a typo "
            f"in the mapping, or a Lucca field the API key cannot see?"
            for field, source in empty.suspicious.items()
        )
        violations = safety.violations(
            suspensions=len(suspensions),
            population=population,
            employees_read=employees_read,
            managed_active=stats.managed_active,
            not_visible=sum(1 for suspension in suspensions if suspension.reason == NOT_VISIBLE),
            departures=sum(1 for s in suspensions if s.reason.startswith(CONTRACT_ENDED)),
            hidden_flag_returns=self._hidden_returns(updates, reactivations),
            reactivations=len(reactivations),
            excludes=len(excludes),
            window=self.window,
            field_changes=changes.changed,
            empty_fields=empty.clearing,
        )
        return Plan(
            # A create's key is its employee id as text: sorting by the id is the same order.
            creates=tuple(sorted(creates, key=attrgetter("depth", "employee_id"))),
            updates=tuple(sorted(updates, key=lambda u: key_order(u.key))),
            reactivations=tuple(sorted(reactivations, key=lambda r: (r.depth, key_order(r.key)))),
            excludes=tuple(sorted(excludes, key=lambda e: key_order(e.key))),
            suspensions=tuple(sorted(suspensions, key=lambda s: key_order(s.key))),
            exclusions=tuple(sorted(exclusions, key=lambda e: e.employee_id)),
            errors=tuple(
                sorted(
                    self.errors,
                    key=lambda e: (e.employee_id is None, e.employee_id or 0, e.stage, e.message),
                )
            ),
            warnings=tuple(sorted(set(self.warnings))),
            violations=violations,
            today=self.today,
            created_at=datetime.now(UTC),
            stats=stats,
        )

    def _hidden_returns(self, updates: list[Update], reactivations: list[Reactivate]) -> int:
        """Users an exclusion kept out who come back while its check box is seen on nobody."""
        if not self._hidden_flags():
            return 0
        returns = sum(1 for update in updates if update.reason == "back in scope")
        if self.on_excluded == "suspend":
            # Excluded users were suspended: their return is a reactivation. The run history
            # tells leavers coming back from them; without it, every reactivation counts.
            kinds = self.suspended_as
            returns += sum(
                1
                for reactivation in reactivations
                if kinds is None or kinds.get(reactivation.key, "excluded") == "excluded"
            )
        return returns

    def _hidden_flags(self) -> list[str]:
        """Codes of the skip-flag rules whose check box no employee of a full read carries.

        An unticked box and a key without rights on its HR-folder section look alike; when
        the box appears nowhere, say so (and the safety net stops excluded users returning).
        """
        if self.read.partial or not self.read_ids:
            return []
        hidden = [rule.code for rule in self.hidden]
        self.warnings.extend(
            f"check box {code} appears on no employee: either nobody has it ticked, or the API "
            f"key cannot see its HR-folder section (run lucca-sync check)"
            for code in hidden
        )
        return hidden

    # -- 2. classify ---------------------------------------------------------------------------

    def _classify(
        self,
    ) -> tuple[dict[int, date | None], list[Exclusion], dict[int, dict[str, str | None]]]:
        """Departures (id -> contract end), exclusions and mapped records, in id order.

        Each employee is dropped once classified (``self.employees`` ends empty).
        """
        today, rules, key_field = self.today, self.rules, self.key_field
        context = RuleContext(today=today, managers=self.hierarchy)
        departed: dict[int, date | None] = {}
        exclusions: list[Exclusion] = []
        records: dict[int, dict[str, str | None]] = {}
        hidden = [rule for rule in rules if isinstance(rule, SkipFlag)]
        record_of = self._record_of()
        manager_ids = self.manager_ids
        pending = self.employees
        pending.reverse()  # popped from the end, in id order
        while pending:
            employee = pending.pop()
            if hidden:
                hidden = [rule for rule in hidden if not rule.present_in(employee)]
            if employee.status(today) == "former":
                departed[employee.id] = employee.contract_end
                continue
            try:
                exclusion = decide(rules, employee, context)
            except RuleError as exc:
                self.errors.append(PlanError("rule", str(exc), employee.id))
                continue
            if exclusion is not None:
                exclusions.append(exclusion)
                if exclusion.warning:
                    self.warnings.append(f"employee {employee.id}: {exclusion.reason}")
                continue
            record, error = record_of(employee)
            if error is not None:
                self.errors.append(PlanError("mapping", str(error), employee.id, error.field))
                continue
            employee_key = str(employee.id)
            if record.setdefault(key_field, employee_key) != employee_key:
                self.errors.append(
                    PlanError(
                        "mapping",
                        f"employee {employee.id}: the mapping must set {self.key_field!r} to "
                        f"the Lucca id, the key that matches users across runs",
                        employee.id,
                        self.key_field,
                    )
                )
                continue
            records[employee.id] = record
            if manager_ids is not None:
                manager_ids[employee.id] = employee.manager_id
        self.hidden = hidden
        return departed, exclusions, records

    def _record_of(
        self,
    ) -> Callable[[Employee], tuple[dict[str, str | None], MappingError | None]]:
        """The mapping as "record or error": a FieldMapping's own, or map() made to fit."""
        if isinstance(self.mapping, FieldMapping):
            # Its records are new dicts, and its errors need no raise and catch.
            return self.mapping._record
        mapping = self.mapping

        def record_of(employee: Employee) -> tuple[dict[str, str | None], MappingError | None]:
            try:
                return dict(mapping.map(employee)), None  # a copy: the planner edits it
            except MappingError as exc:
                return {}, exc

        return record_of

    # -- 3. match ------------------------------------------------------------------------------

    def _match(self, records: Mapping[int, Mapping[str, str | None]]) -> dict[int, _Match]:
        """Kept employee id -> its target user (or a create); mismatches become errors."""
        index: dict[tuple[str, str], list[TargetUser]] = {}
        unmanaged = [(key, user) for key, user in self.target.items() if not user.managed]
        if unmanaged and self.match_by:
            own_keys = {str(employee_id) for employee_id in records}
            for key, user in unmanaged:
                if key in own_keys:
                    continue
                for field in self.match_by:
                    value = user.fields.get(field)
                    if value and value.strip():
                        index.setdefault((field, value.strip().casefold()), []).append(user)
        matches: dict[int, _Match] = {}
        adoptions: dict[int, tuple[TargetUser, str]] = {}
        target_user = self.target.get
        for employee_id, record in records.items():
            # The usual cases first: a managed user to update, or nobody to adopt.
            found = target_user(str(employee_id))
            if found is None and not index:
                matches[employee_id] = _CREATE
            elif found is not None and found.managed:
                matches[employee_id] = _Match(found)
            elif (match := self._match_one(employee_id, record, index)) is not None:
                matches[employee_id] = match
                if match.user is not None and match.adopted_by is not None:
                    adoptions[employee_id] = (match.user, match.adopted_by)
        claims: dict[str, list[int]] = {}
        for employee_id, (user, _field) in adoptions.items():
            claims.setdefault(user.key, []).append(employee_id)
        for claimants in claims.values():
            if len(claimants) > 1:
                for employee_id in claimants:
                    del matches[employee_id], adoptions[employee_id]
                    self.errors.append(
                        PlanError(
                            "match",
                            f"employee {employee_id}: the same unmanaged target user matches "
                            f"employees {', '.join(map(str, sorted(claimants)))}; none is adopted",
                            employee_id,
                        )
                    )
        conflicts = identity_conflicts(
            adoptions=adoptions,
            creates=(employee_id for employee_id, match in matches.items() if match.user is None),
            records=records,
            target=self.target,
            key_field=self.key_field,
            match_by=self.match_by,
            known_ids=self.hierarchy,
        )
        for error in conflicts:
            assert error.employee_id is not None  # noqa: S101 - each conflict names one
            matches.pop(error.employee_id, None)
        self.errors.extend(conflicts)
        return matches

    def _match_one(
        self,
        employee_id: int,
        record: Mapping[str, str | None],
        index: Mapping[tuple[str, str], list[TargetUser]],
    ) -> _Match | None:
        key = str(employee_id)
        user = self.target.get(key)
        if user is not None:
            if user.managed:
                return _Match(user)
            if not self.match_by:
                self.errors.append(
                    PlanError(
                        "match",
                        f"employee {employee_id}: the target holds a user with key {key} that "
                        f"the sync does not manage; allow adopting it with match_by, or remove "
                        f"it from the target",
                        employee_id,
                        self.key_field,
                    )
                )
                return None
            return self._adopt(employee_id, user, self.key_field)
        for field in self.match_by:
            value = record.get(field)
            if not value or not value.strip():
                continue
            candidates = index.get((field, value.strip().casefold()), [])
            if len(candidates) == 1:
                return self._adopt(employee_id, candidates[0], field)
            if len(candidates) > 1:
                self.errors.append(
                    PlanError(
                        "match",
                        f"employee {employee_id}: {len(candidates)} unmanaged target users have "
                        f"the same {field}; none is adopted (make it unique in the target)",
                        employee_id,
                        field,
                    )
                )
                return None
        return _CREATE

    def _adopt(self, employee_id: int, user: TargetUser, field: str) -> _Match | None:
        if user.suspended:
            self.errors.append(
                PlanError(
                    "match",
                    f"employee {employee_id}: the matching target user (by {field}) is "
                    f"suspended and not managed by the sync; reactivate it in the target to "
                    f"let the sync adopt it",
                    employee_id,
                    field,
                )
            )
            return None
        return _Match(user, adopted_by=field)

    # -- 4. managers ---------------------------------------------------------------------------

    def _resolve_managers(self, records: dict[int, dict[str, str | None]]) -> Mapping[int, int]:
        """Rewrite each record's manager reference; return each kept employee's depth."""
        field = self.manager_field
        if field is None:
            return {}
        # Employees with an error keep their target user as it is: still valid managers.
        stay = {
            error.employee_id
            for error in self.errors
            if error.employee_id is not None and _is_live(self.target.get(str(error.employee_id)))
        }
        references: dict[int, int | None]
        if self.manager_ids is not None:
            manager_ids = self.manager_ids
            references = {employee_id: manager_ids[employee_id] for employee_id in records}
        else:
            references = {}
            for employee_id, record in records.items():
                if field in record:
                    value = record[field]
                    manager_id = _as_id(value)
                    if value is None or manager_id is not None:
                        references[employee_id] = manager_id
        unchanged = self._unchanged() if self.read.partial else {}
        for employee_id in unchanged:
            if employee_id in self.hierarchy:
                references[employee_id] = self.hierarchy[employee_id]
        synced = set(records)
        synced.update(stay, unchanged)
        resolved = resolve_managers(
            references, self.hierarchy, synced, fallback=self.manager_fallback
        )
        self.warnings.extend(resolved.warnings)
        by_id = self.manager_ids is not None
        for employee_id, manager_id in resolved.managers.items():
            user = unchanged.get(employee_id)
            if user is None:
                if by_id and manager_id == references[employee_id]:
                    continue  # the FieldMapping already wrote this manager's id as text
                records[employee_id][field] = None if manager_id is None else str(manager_id)
                continue
            value = None if manager_id is None else str(manager_id)
            if user.fields.get(field) != value:
                # Their manager left, was excluded or came into scope: only the link changes.
                change = FieldChange(field, user.fields.get(field), value)
                self.manager_updates.append(Update(user.key, employee_id, (change,)))
        return resolved.depth

    def _unchanged(self) -> dict[int, TargetUser]:
        """Incremental reads: the active, in-scope target users that were not re-read."""
        read = set(self.read_ids)
        with_error = {error.employee_id for error in self.errors}
        unchanged: dict[int, TargetUser] = {}
        for key, user in self.target.items():
            employee_id = _as_id(key)
            if (
                employee_id is not None
                and employee_id not in read
                and employee_id not in with_error
                and _is_live(user)
                and not user.excluded
            ):
                unchanged[employee_id] = user
        return unchanged

    # -- 5. diff and retire --------------------------------------------------------------------

    def _changes(
        self, record: Mapping[str, str | None], user: TargetUser
    ) -> tuple[FieldChange, ...]:
        before = user.fields
        if before == record:
            return ()  # compared in C: the usual case on a re-run
        changed = [field for field, value in record.items() if before.get(field) != value]
        if not changed:
            return ()  # the usual case on a re-run: nothing to sort or build
        create_only = self.create_only
        return tuple(
            FieldChange(field, before.get(field), record[field])
            for field in sorted(changed)
            if field != self.key_field and field not in create_only
        )

    def _settle(
        self,
        records: dict[int, dict[str, str | None]],
        matches: Mapping[int, _Match],
        excludes: list[Exclude],
        suspensions: list[Suspend],
    ) -> tuple[list[Create], list[Update], list[Reactivate]]:
        """Managers and field diff, made again without each record the target would refuse.

        A refused employee becomes an error and leaves ``records``; their reports are then
        resolved to another manager. Ends: every round either removes an employee or returns.
        """
        while True:
            self.manager_updates = []
            depth = self._resolve_managers(records)
            creates, updates, reactivations = self._diff(records, matches, depth)
            if self.check_plan is None:
                return creates, updates, reactivations
            refused = target_refusals(
                self.check_plan,
                creates=creates,
                updates=updates,
                reactivations=reactivations,
                excludes=excludes,
                suspensions=suspensions,
                today=self.today,
                fixed_fields=(self.key_field, self.manager_field),
            )
            self.warnings.extend(refused.warnings)
            known = {error.employee_id for error in self.errors}
            new = [error for error in refused.errors.values() if error.employee_id not in known]
            if not new:
                return creates, updates, reactivations
            self.errors.extend(new)
            for error in new:
                records.pop(error.employee_id or 0, None)

    def _diff(
        self,
        records: Mapping[int, dict[str, str | None]],
        matches: Mapping[int, _Match],
        depth: Mapping[int, int],
    ) -> tuple[list[Create], list[Update], list[Reactivate]]:
        creates: list[Create] = []
        updates: list[Update] = list(self.manager_updates)
        reactivations: list[Reactivate] = []
        for employee_id, record in records.items():
            key = str(employee_id)
            user, adopted_by = matches[employee_id]
            level = depth.get(employee_id, 0)
            if user is None:
                # The planner is done with the record: the create takes it without a copy.
                creates.append(Create(key, employee_id, MappingProxyType(record), level))
                continue
            changes = self._changes(record, user)
            if adopted_by is not None:
                reason = f"adopted: matched by {adopted_by}"
                kept = user.fields.get(self.key_field)
                if self.keeps_identifiers and kept and kept != key:
                    reason += f"; keeps its {self.key_field} {kept}"
                updates.append(Update(user.key, employee_id, changes, new_key=key, reason=reason))
            elif user.suspended:
                reactivations.append(Reactivate(key, employee_id, changes, level))
            elif changes or user.excluded:
                reason = "back in scope" if user.excluded else ""
                updates.append(Update(key, employee_id, changes, reason=reason))
        return creates, updates, reactivations

    def _retire(
        self, departed: Mapping[int, date | None], exclusions: Sequence[Exclusion]
    ) -> tuple[list[Exclude], list[Suspend]]:
        excludes: list[Exclude] = []
        suspensions: list[Suspend] = []
        for exclusion in exclusions:
            user = self.target.get(str(exclusion.employee_id))
            if user is None or not _is_live(user):
                continue
            # A doubtful decision (an unreadable check box) never becomes a suspension.
            if self.on_excluded == "suspend" and not exclusion.warning:
                suspensions.append(
                    Suspend(user.key, exclusion.employee_id, f"excluded: {exclusion.reason}")
                )
            elif not user.excluded:
                excludes.append(
                    Exclude(user.key, exclusion.employee_id, exclusion.rule, exclusion.reason)
                )
        for employee_id, contract_end in departed.items():
            user = self.target.get(str(employee_id))
            if user is not None and _is_live(user) and contract_end is not None:
                reason = f"{CONTRACT_ENDED} {contract_end.isoformat()}"
                suspensions.append(Suspend(user.key, employee_id, reason))
        with_error = {str(e.employee_id) for e in self.errors if e.employee_id is not None}
        # After an incremental read, absent means unchanged: departures come from the read.
        live = [] if self.read.partial else [k for k, u in self.target.items() if _is_live(u)]
        if live:
            seen = {str(employee_id) for employee_id in self.read_ids}
            suspensions.extend(
                Suspend(key, _as_id(key), NOT_VISIBLE)
                for key in live
                if key not in seen and key not in with_error
            )
        suspensions = [s for s in suspensions if s.key not in with_error]
        unknown = sum(1 for error in self.errors if error.employee_id is None)
        if unknown and suspensions:
            self.warnings.append(
                f"{len(suspensions)} suspension(s) held back: the read had {unknown} record(s) "
                f"whose employee id could not be read, so nobody can be known to be gone"
            )
            suspensions = []
        return excludes, suspensions

    def _stats(self, former: int, kept: int, excluded: int, mode_reason: str) -> PlanStats:
        read_errors = sum(1 for error in self.errors if error.stage == "read")
        return PlanStats(
            employees_read=len(self.read_ids) + read_errors,
            employees_former=former,
            employees_kept=kept,
            employees_excluded=excluded,
            target_users=len(self.target),
            managed_active=sum(1 for user in self.target.values() if _is_live(user)),
            requests_made=self.read.requests_made,
            requests_by_resource=self.read.requests_by_resource,
            mode="incremental" if self.read.partial else "full",
            mode_reason=mode_reason,
        )
