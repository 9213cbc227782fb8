"""Who the target already knows: identifiers that must not be confused, and a first publication.

A snapshot target (Elevo) suspends every identifier its last file held that the next one does
not. Two things would make an identifier leave the file without a ``Suspend`` in the plan, and
the planner refuses both here:

* **confused identities.** A target user adopted with an identifier of its own keeps it (the
  sink links the Lucca id to it, :attr:`lucca_sync.Sink.keeps_identifiers`). That identifier
  must not be another employee's Lucca id, and a user matched by its identifier must not be
  another employee's by e-mail: each is a blocking :class:`PlanError` for the employees
  concerned, never a guess;
* **a first publication** whose consequences nobody reviewed: when the sink has never published
  to the target (:meth:`lucca_sync.Sink.first_publication`), the plan carries the
  ``first_publication`` safety violation, approved only by the plan's digest.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from lucca_sync._engine._plan_model import Plan, PlanError, SafetyViolation

if TYPE_CHECKING:
    from lucca_sync.sinks import TargetUser

__all__ = ["FIRST_PUBLICATION", "first_publication_violation", "identity_conflicts"]

#: The ``limit`` of the first-publication violation.
FIRST_PUBLICATION = "first_publication"


def _fold(value: str | None) -> str:
    return (value or "").strip().casefold()


def identity_conflicts(
    *,
    adoptions: Mapping[int, tuple[TargetUser, str]],
    creates: Iterable[int],
    records: Mapping[int, Mapping[str, str | None]],
    target: Mapping[str, TargetUser],
    key_field: str,
    match_by: Sequence[str],
    known_ids: Collection[int],
) -> list[PlanError]:
    """The employees whose identity in the target is ambiguous, one error each.

    Args:
        adoptions: Employee id -> (the target user it adopts, the field that matched).
        creates: Employees the plan would create (only read when the target holds some
            adopted user's identifier).
        records: The mapped records of the kept employees.
        target: The target's users by key.
        key_field: The target's key field.
        match_by: The fallback keys of adoption.
        known_ids: Every Lucca id of the read (former and excluded employees included).
    """
    errors: list[PlanError] = []
    # Identifiers the target knows under another key: users adopted earlier who kept theirs.
    kept = {
        user.fields[key_field]: key
        for key, user in target.items()
        if user.fields.get(key_field) and user.fields[key_field] != key
    }
    for employee_id in sorted(creates) if kept else ():
        holder = kept.get(str(employee_id))
        if holder is not None:
            errors.append(
                PlanError(
                    "match",
                    f"employee {employee_id}: the target already uses {employee_id} as the "
                    f"{key_field} of another user (known to the sync as {holder}, adopted with "
                    f"the identifier it had); creating this employee would merge two people. "
                    f"Give one of them another {key_field} in the target",
                    employee_id,
                    key_field,
                )
            )
    for employee_id, (user, field) in sorted(adoptions.items()):
        identifier = user.fields.get(key_field) or ""
        if field != key_field:
            # Matched by e-mail (or another key): its own identifier must not name someone else.
            other = int(identifier) if identifier.isdecimal() else None
            if other is not None and other != employee_id and other in known_ids:
                errors.append(
                    PlanError(
                        "match",
                        f"employee {employee_id}: the target user it matches by {field} has "
                        f"{key_field} {identifier}, the Lucca id of employee {identifier}; "
                        f"adopting it would give employee {employee_id} another employee's "
                        f"identifier. Check in the target which person this user is",
                        employee_id,
                        key_field,
                    )
                )
            continue
        # Matched by its identifier: its e-mail (or other key) must not be another employee's.
        for name in match_by:
            value = _fold(user.fields.get(name))
            if not value:
                continue
            others = [
                other
                for other, record in records.items()
                if other != employee_id and _fold(record.get(name)) == value
            ]
            if others:
                errors.extend(
                    PlanError(
                        "match",
                        f"employee {who}: target user {user.key} has the {key_field} of "
                        f"employee {employee_id} but the {name} of employee "
                        f"{', '.join(map(str, others))}; none is adopted or created until "
                        f"the target says which person it is",
                        who,
                        name,
                    )
                    for who in (employee_id, *others)
                )
                break
    return errors


def first_publication_violation(
    where: str, target: Mapping[str, TargetUser], plan: Plan, *, key_field: str
) -> SafetyViolation:
    """The violation that makes the first publication to ``where`` a reviewed step.

    ``observed`` is the number of target users known from an adoption export that the file
    cannot name (no identifier, not adopted by this plan): those the first file would suspend.
    """
    adopted = {update.key for update in plan.updates if update.new_key is not None}
    known = [user for user in target.values() if not user.managed]
    unnamed = sum(
        1
        for user in known
        if not user.suspended and not user.fields.get(key_field) and user.key not in adopted
    )
    if known:
        detail = (
            f"of the {len(known)} user(s) of the Elevo export, {unnamed} cannot be named in the "
            f"file (no {key_field}, not adopted) and would be suspended"
        )
    else:
        detail = (
            "no export of the target's users was given (adopt_from), so every user it already "
            "holds would be suspended; give one to adopt or protect them"
        )
    return SafetyViolation(
        limit=FIRST_PUBLICATION,
        observed=unnamed,
        allowed=0,
        message=(
            f"first publication to {where}: the target suspends every user it holds that this "
            f"file does not list; {detail}"
        ),
    )
