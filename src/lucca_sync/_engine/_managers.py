"""The manager graph: resolving each report's manager against the users the sync keeps.

A target can only link a report to a manager it holds (Elevo skips a row whose
``manager_uniq_identifier`` is not in the file). So a manager who is excluded, departed or
absent is replaced by the nearest *synced* ancestor in the Lucca hierarchy (policy
``"nearest_ancestor"``) or left empty (policy ``"empty"``). Self-management and cycles are
detected, reported as warnings and broken — walking the graph never loops.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Literal

import attrs

__all__ = ["ManagerFallback", "ResolvedManagers", "resolve_managers"]

#: What replaces a manager who is not synchronised.
ManagerFallback = Literal["nearest_ancestor", "empty"]


@attrs.frozen
class ResolvedManagers:
    """Each kept employee's manager among the synced employees, and their depth.

    Args:
        managers: Kept employee id -> synced manager id (or None).
        depth: Kept employee id -> number of kept managers above them (0 = top).
        warnings: Self-management and cycles found, by employee id.
    """

    managers: Mapping[int, int | None]
    depth: Mapping[int, int]
    warnings: tuple[str, ...] = ()


def resolve_managers(
    references: Mapping[int, int | None],
    hierarchy: Mapping[int, int | None],
    synced: Set[int],
    *,
    fallback: ManagerFallback = "nearest_ancestor",
) -> ResolvedManagers:
    """Resolve the manager of every kept employee.

    Args:
        references: Kept employee id -> the manager id their record names.
        hierarchy: Every employee read -> their Lucca manager id (to walk past missing links).
        synced: Ids that will be active users of the target (the kept employees, plus any
            that stay as they are): the only valid managers.
        fallback: ``"nearest_ancestor"`` or ``"empty"`` for a manager outside ``synced``.
    """
    warnings: list[str] = []
    managers: dict[int, int | None] = {}
    for employee_id in sorted(references):
        manager_id = references[employee_id]
        if manager_id is None or (manager_id in synced and manager_id != employee_id):
            managers[employee_id] = manager_id  # the usual case, without walking
            continue
        managers[employee_id] = _walk(
            employee_id,
            manager_id,
            hierarchy=hierarchy,
            synced=synced,
            fallback=fallback,
            warnings=warnings,
        )
    depth = _depths(managers, warnings)
    return ResolvedManagers(managers=managers, depth=depth, warnings=tuple(warnings))


def _walk(
    employee_id: int,
    manager_id: int | None,
    *,
    hierarchy: Mapping[int, int | None],
    synced: Set[int],
    fallback: ManagerFallback,
    warnings: list[str],
) -> int | None:
    if manager_id == employee_id:
        warnings.append(
            f"employee {employee_id} is recorded as their own manager in Lucca; "
            f"their manager is left empty"
        )
        return None
    if manager_id is None or manager_id in synced:
        return manager_id  # the usual case, without walking
    seen = {employee_id}
    current: int | None = manager_id
    while current is not None:
        if current in seen:
            warnings.append(
                f"the managers above employee {employee_id} form a cycle in Lucca "
                f"(through employee {current}); their manager is left empty"
            )
            return None
        if current in synced:
            return current
        if fallback == "empty":
            return None
        seen.add(current)
        current = hierarchy.get(current)
    return None


def _depths(managers: dict[int, int | None], warnings: list[str]) -> dict[int, int]:
    """Each kept employee's depth; a cycle among them is first cut at its smallest id.

    One walk up from each employee (in id order) until a known depth, the top, or a cycle.
    """
    depth: dict[int, int] = {}
    for start in sorted(managers):
        if start in depth:
            continue
        manager = managers[start]
        # The usual cases need no walk: the top, or a manager whose depth is known.
        if manager is None:
            depth[start] = 0
            continue
        if manager in depth:
            depth[start] = depth[manager] + 1
            continue
        path: list[int] = []
        on_path: set[int] = set()
        current: int | None = start
        while current is not None and current in managers and current not in depth:
            if current in on_path:
                cycle = path[path.index(current) :]
                cut = min(cycle)
                members = ", ".join(str(member) for member in sorted(cycle))
                warnings.append(
                    f"employees {members} manage each other in a cycle in Lucca; "
                    f"the manager of employee {cut} is left empty"
                )
                managers[cut] = None
                path, on_path, current = [], set(), start  # walk again, without the cycle
                continue
            path.append(current)
            on_path.add(current)
            current = managers[current]
        base = depth[current] + 1 if current is not None and current in depth else 0
        for offset, member in enumerate(reversed(path)):
            depth[member] = base + offset
    return depth
