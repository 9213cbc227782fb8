"""Exclusion rules: who is kept out of the target, and why.

A rule is any callable ``rule(employee) -> str | None``: a reason to exclude the employee, or
``None`` to keep them (`ExclusionRule`). `decide` runs a sequence of rules for one employee;
the first rule that excludes wins and its name and reason are recorded as an `Exclusion`.

The built-ins are frozen attrs classes (hashable, comparable, with a repr that reads like the
call that built them), made by the lower-case factories: `skip_flag` (the default, Lucca's
``e_skip_elevo_sync`` check box), `departed`, `not_started`, `field_equals`, `field_matches`,
`field_is_null`, `in_department`, `in_legal_entity`, `reports_to`, `email_domain`, and the
combinators `any_of`, `all_of`, `not_`. `rules_from_config` builds the same objects from a
declarative configuration.

Reasons never contain personal data: they cite employee ids, field paths, check-box codes,
dates, department and establishment names, and the values written in the configuration.

Rules never read the wall clock. Date-based rules use the ``today`` given at construction or,
without it, `RuleContext.today` of the `decide` call in progress; graph-based rules
(`reports_to`) use `RuleContext.managers`. ``today`` is a date in the tenant's time zone: the
planner computes it (Europe/Paris unless configured otherwise).

Three-valued decisions: a rule that cannot read the data it needs returns an `Uncertain`
reason. The employee is kept out (privacy first) and the exclusion carries ``warning=True`` so
the report draws attention to it. The combinators follow Kleene logic: ``not_`` of an uncertain
rule is uncertain, `any_of` prefers a certain exclusion, and `all_of` keeps the employee as soon
as one rule certainly keeps them.

Where things live, in the order a rule is used:

- ``_protocol.py`` — `ExclusionRule`, `Uncertain`, `Exclusion`, `RuleContext`, `decide`, and
  ``_Rule``, the base of every built-in;
- ``_values.py`` — reading a value from an employee: field paths, check-box values, comparison;
- ``_checks.py`` — argument checks the built-ins share (one problem per bad argument);
- ``_builtins.py`` — the built-in rules and their factories (`skip_flag` …), `DEFAULT_RULES`;
- ``_combinators.py`` — `any_of`, `all_of`, `not_`;
- ``_config.py`` — `rules_from_config`: tables (TOML/JSON) to rules, plug-ins from the
  ``lucca_sync.rules`` entry-point group.
"""

from lucca_sync.rules._builtins import (
    DEFAULT_RULES,
    DEFAULT_SKIP_FLAG_CODE,
    Departed,
    EmailDomain,
    FieldEquals,
    FieldIsNull,
    FieldMatches,
    IdOrName,
    InDepartment,
    InLegalEntity,
    NotStarted,
    ReportsTo,
    Scalar,
    SkipFlag,
    departed,
    email_domain,
    field_equals,
    field_is_null,
    field_matches,
    in_department,
    in_legal_entity,
    not_started,
    reports_to,
    skip_flag,
)
from lucca_sync.rules._combinators import AllOf, AnyOf, Not, all_of, any_of, not_
from lucca_sync.rules._config import ENTRY_POINT_GROUP, rules_from_config
from lucca_sync.rules._protocol import (
    Exclusion,
    ExclusionRule,
    RuleContext,
    Uncertain,
    current_context,
    decide,
    rule_name,
)

__all__ = [
    "DEFAULT_RULES",
    "DEFAULT_SKIP_FLAG_CODE",
    "ENTRY_POINT_GROUP",
    "AllOf",
    "AnyOf",
    "Departed",
    "EmailDomain",
    "Exclusion",
    "ExclusionRule",
    "FieldEquals",
    "FieldIsNull",
    "FieldMatches",
    "IdOrName",
    "InDepartment",
    "InLegalEntity",
    "Not",
    "NotStarted",
    "ReportsTo",
    "RuleContext",
    "Scalar",
    "SkipFlag",
    "Uncertain",
    "all_of",
    "any_of",
    "current_context",
    "decide",
    "departed",
    "email_domain",
    "field_equals",
    "field_is_null",
    "field_matches",
    "in_department",
    "in_legal_entity",
    "not_",
    "not_started",
    "reports_to",
    "rule_name",
    "rules_from_config",
    "skip_flag",
]
