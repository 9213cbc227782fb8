"""Combinators: `any_of`, `all_of` and `not_`, with Kleene logic for `Uncertain` reasons."""

from __future__ import annotations

import attrs

from lucca_sync._employee import Employee
from lucca_sync.rules._checks import _check_rule, _check_rules, _raise_problems
from lucca_sync.rules._protocol import (
    ExclusionRule,
    Uncertain,
    _any_reads_raw,
    _call,
    _custom_fields_read,
    _Rule,
    rule_name,
)

__all__ = ["AllOf", "AnyOf", "Not", "all_of", "any_of", "not_"]


@attrs.frozen(repr=False)
class AnyOf(_Rule):
    """Excludes when at least one of ``rules`` excludes; see `any_of`."""

    rules: tuple[ExclusionRule, ...]

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        _check_rules(problems, self.rules)
        _raise_problems("any_of", problems)

    @property
    def name(self) -> str:
        """``any_of(<rule names>…)``."""
        return f"any_of({', '.join(map(rule_name, self.rules))})"

    def _reads_raw(self) -> bool:
        return _any_reads_raw(self.rules)

    def _custom_fields(self) -> frozenset[str] | None:
        return _custom_fields_read(self.rules)

    def __call__(self, employee: Employee, /) -> str | None:
        """The first certain reason among ``rules``; else the first uncertain one; else None."""
        uncertain: str | None = None
        for rule in self.rules:
            reason = _call(rule, employee)
            if reason is not None and not isinstance(reason, Uncertain):
                return reason
            uncertain = uncertain or reason
        return uncertain


@attrs.frozen(repr=False)
class AllOf(_Rule):
    """Excludes when every one of ``rules`` excludes; see `all_of`."""

    rules: tuple[ExclusionRule, ...]

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        _check_rules(problems, self.rules)
        _raise_problems("all_of", problems)

    @property
    def name(self) -> str:
        """``all_of(<rule names>…)``."""
        return f"all_of({', '.join(map(rule_name, self.rules))})"

    def _reads_raw(self) -> bool:
        return _any_reads_raw(self.rules)

    def _custom_fields(self) -> frozenset[str] | None:
        return _custom_fields_read(self.rules)

    def __call__(self, employee: Employee, /) -> str | None:
        """The reasons joined with "and"; uncertain when one of them is; None if one keeps."""
        reasons = []
        for rule in self.rules:
            reason = _call(rule, employee)
            if reason is None:
                return None
            reasons.append(reason)
        text = " and ".join(reasons)
        return Uncertain(text) if any(isinstance(r, Uncertain) for r in reasons) else text


@attrs.frozen(repr=False)
class Not(_Rule):
    """Excludes when ``of`` keeps, and the other way round; see `not_`."""

    of: ExclusionRule

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        _check_rule(problems, "of", self.of)
        _raise_problems("not_", problems)

    @property
    def name(self) -> str:
        """``not_(<rule name>)``."""
        return f"not_({rule_name(self.of)})"

    def _reads_raw(self) -> bool:
        return _any_reads_raw((self.of,))

    def _custom_fields(self) -> frozenset[str] | None:
        return _custom_fields_read((self.of,))

    def __call__(self, employee: Employee, /) -> str | None:
        """Exclude when ``of`` keeps; keep when it excludes; stay uncertain when it is."""
        reason = _call(self.of, employee)
        if reason is None:
            return f"does not match {rule_name(self.of)}"
        return reason if isinstance(reason, Uncertain) else None


def any_of(*rules: ExclusionRule) -> AnyOf:
    """Exclude when at least one of ``rules`` excludes, with that rule's reason.

    A certain reason wins over an `Uncertain` one, so the decision and its warning flag do not
    depend on the order of ``rules``.

    Raises:
        ConfigurationError: no rules, or something that is not callable.
    """
    return AnyOf(rules)


def all_of(*rules: ExclusionRule) -> AllOf:
    """Exclude when every one of ``rules`` excludes; the reasons are joined with "and".

    Raises:
        ConfigurationError: no rules (which would exclude everybody), or something not callable.
    """
    return AllOf(rules)


def not_(rule: ExclusionRule) -> Not:
    """Exclude exactly the employees ``rule`` keeps (reason: "does not match <rule>").

    ``not_(in_legal_entity("Acme Paris"))`` keeps only Acme Paris. When ``rule`` is uncertain
    (an unreadable value), so is its negation: the employee stays out, with a warning.

    Raises:
        ConfigurationError: ``rule`` is not callable.
    """
    return Not(rule)
