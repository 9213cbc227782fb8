"""Exclusion rules: the skip flag, the built-ins, the combinators and `decide`."""

from __future__ import annotations

import functools
from datetime import date, datetime
from typing import ClassVar

import attrs
import pytest

import lucca_sync
from lucca_sync import Employee, Ref, rules
from lucca_sync.exceptions import ConfigurationError, RuleError
from lucca_sync.rules import Exclusion, RuleContext, decide

TODAY = date(2024, 5, 15)
CONTEXT = RuleContext(today=TODAY)


def person(employee_id: int = 416, **fields: object) -> Employee:
    """An employee with realistic (accented) personal data, overridable field by field."""
    defaults: dict[str, object] = {
        "first_name": "Zoé",
        "last_name": "Lefèvre-N'Diaye",
        "email": "zoe.lefevre@acme.example",
    }
    return Employee(id=employee_id, **{**defaults, **fields})  # type: ignore[arg-type]


def flagged(value: object, *, code: str = "e_skip_elevo_sync") -> Employee:
    """An employee whose check box ``code`` holds ``value`` as the reader hands it over."""
    return person(extended_data={code: value}, raw={"extendedData": {code: value}})


def outcome(rule: rules.ExclusionRule, employee: Employee, context: RuleContext = CONTEXT) -> str:
    """ "kept", "excluded" or "warned": the decision of one rule, in one word."""
    exclusion = decide([rule], employee, context)
    if exclusion is None:
        return "kept"
    return "warned" if exclusion.warning else "excluded"


class TestSkipFlagValues:
    """The check box counts as ticked only for the documented truthy values."""

    @pytest.mark.parametrize(
        "value",
        [True, "true", "True", "TRUE", " true ", 1, 1.0, "1", "yes", "YES", "oui", "Oui "],
    )
    def test_truthy_values_exclude(self, value: object) -> None:
        assert outcome(rules.skip_flag(), flagged(value)) == "excluded"

    @pytest.mark.parametrize("value", [False, "false", "FALSE", 0, 0.0, "0", "no", "non", None, ""])
    def test_falsy_values_keep(self, value: object) -> None:
        assert outcome(rules.skip_flag(), flagged(value)) == "kept"

    @pytest.mark.parametrize(
        "value", ["maybe", "vrai", 2, -1, 0.5, float("nan"), [True], {"id": 3}, {"a": 1}, []]
    )
    def test_unreadable_values_keep_the_employee_out_with_a_warning(self, value: object) -> None:
        exclusion = decide([rules.skip_flag()], flagged(value), CONTEXT)
        assert exclusion is not None
        assert exclusion.warning is True
        assert "e_skip_elevo_sync" in exclusion.reason
        assert "not a check box" in exclusion.reason

    def test_unreadable_value_is_not_echoed_in_the_reason(self) -> None:
        exclusion = decide([rules.skip_flag()], flagged("Zoé Lefèvre"), CONTEXT)
        assert exclusion is not None
        assert "Zoé" not in exclusion.reason

    def test_absent_flag_keeps(self) -> None:
        assert outcome(rules.skip_flag(), person()) == "kept"


class TestSkipFlagWireShapes:
    """Every wire shape Lucca may use for the box is read, wherever the value sits."""

    @pytest.mark.parametrize(
        ("wire", "expected"),
        [
            ({"id": 90001, "value": True}, "excluded"),
            ({"id": 90001, "value": "true"}, "excluded"),
            (True, "excluded"),
            ("true", "excluded"),
            ({"id": 90001, "value": False}, "kept"),
            ({"id": 90001, "value": "false"}, "kept"),
            (False, "kept"),
            ("false", "kept"),
            (None, "kept"),
            ({"id": 90001, "value": None}, "kept"),
            ({"id": 90001, "value": {"id": 4, "value": "TRUE"}}, "excluded"),
        ],
    )
    def test_wrapped_or_bare_in_extended_data(self, wire: object, expected: str) -> None:
        assert outcome(rules.skip_flag(), flagged(wire)) == expected

    @pytest.mark.parametrize(
        ("wire", "expected"),
        [({"id": 1, "value": True}, "excluded"), ("oui", "excluded"), ({"id": 1}, "warned")],
    )
    def test_raw_extended_data_is_read_when_extended_data_lacks_the_code(
        self, wire: object, expected: str
    ) -> None:
        employee = person(raw={"extendedData": {"e_skip_elevo_sync": wire}})
        assert outcome(rules.skip_flag(), employee) == expected

    def test_extended_data_wins_over_raw(self) -> None:
        employee = person(
            extended_data={"e_skip_elevo_sync": False},
            raw={"extendedData": {"e_skip_elevo_sync": {"id": 1, "value": True}}},
        )
        assert outcome(rules.skip_flag(), employee) == "kept"

    def test_present_in_tells_an_unset_box_from_a_missing_one(self) -> None:
        flag = rules.skip_flag()
        assert flag.present_in(flagged({"id": 1, "value": None})) is True
        assert flag.present_in(person()) is False


class TestSkipFlagCode:
    """The check box's code is configurable and validated."""

    def test_other_code_is_honoured_and_default_code_ignored(self) -> None:
        other = rules.skip_flag("e_other")
        assert outcome(other, flagged(True, code="e_other")) == "excluded"
        assert outcome(other, flagged(True)) == "kept"

    def test_code_without_prefix_as_on_elevo_page(self) -> None:
        assert outcome(rules.skip_flag("skip_elevo_sync"), flagged(1, code="skip_elevo_sync")) == (
            "excluded"
        )

    @pytest.mark.parametrize("code", ["", "   ", 3, None])
    def test_bad_code_is_refused(self, code: object) -> None:
        with pytest.raises(ConfigurationError, match="code"):
            rules.skip_flag(code)  # type: ignore[arg-type]

    def test_reason_names_the_code(self) -> None:
        exclusion = decide([rules.skip_flag("e_x")], flagged("yes", code="e_x"), CONTEXT)
        assert exclusion == Exclusion(
            employee_id=416,
            rule="skip_flag('e_x')",
            reason="check box e_x is ticked in Lucca",
        )


class TestDefaultRules:
    """DEFAULT_RULES is the e_skip_elevo_sync check box, exported at the top level."""

    def test_default_rules_are_the_default_skip_flag(self) -> None:
        assert (rules.skip_flag("e_skip_elevo_sync"),) == lucca_sync.DEFAULT_RULES

    def test_default_rules_exclude_ticked_and_keep_others(self) -> None:
        assert decide(lucca_sync.DEFAULT_RULES, flagged({"id": 1, "value": "true"}), CONTEXT)
        assert decide(lucca_sync.DEFAULT_RULES, flagged(False), CONTEXT) is None


class TestDeparted:
    """departed() excludes when contract_end + grace_days < today."""

    @pytest.mark.parametrize(
        ("end", "grace", "expected"),
        [
            (date(2024, 5, 14), 0, "excluded"),
            (date(2024, 5, 15), 0, "kept"),
            (date(2024, 5, 16), 0, "kept"),
            (date(2024, 4, 15), 30, "kept"),
            (date(2024, 4, 14), 30, "excluded"),
            (None, 0, "kept"),
        ],
    )
    def test_boundaries(self, end: date | None, grace: int, expected: str) -> None:
        assert outcome(rules.departed(grace), person(contract_end=end)) == expected

    def test_reason_gives_the_dates(self) -> None:
        exclusion = decide([rules.departed(30)], person(contract_end=date(2024, 3, 31)), CONTEXT)
        assert exclusion is not None
        assert "2024-03-31" in exclusion.reason
        assert "30 days" in exclusion.reason
        assert "2024-05-15" in exclusion.reason

    def test_today_fixed_at_construction_wins_over_the_context(self) -> None:
        rule = rules.departed(today=date(2024, 1, 1))
        assert outcome(rule, person(contract_end=date(2024, 3, 31))) == "kept"

    def test_without_context_or_today_it_refuses_to_guess(self) -> None:
        with pytest.raises(RuleError, match="today") as caught:
            rules.departed()(person(contract_end=date(2024, 3, 31)))
        assert caught.value.rule == "departed(grace_days=0)"

    @pytest.mark.parametrize("grace", [-1, True, 1.5, "30"])
    def test_bad_grace_days_are_refused(self, grace: object) -> None:
        with pytest.raises(ConfigurationError, match="grace_days"):
            rules.departed(grace)  # type: ignore[arg-type]

    def test_datetime_today_is_refused(self) -> None:
        with pytest.raises(ConfigurationError, match="today"):
            rules.departed(today=datetime(2024, 5, 1, 23, 30))


class TestNotStarted:
    """not_started() excludes when contract_start > today + pre_start_days."""

    @pytest.mark.parametrize(
        ("start", "pre_start", "expected"),
        [
            (date(2024, 5, 16), 0, "excluded"),
            (date(2024, 5, 15), 0, "kept"),
            (date(2024, 5, 29), 14, "kept"),
            (date(2024, 5, 30), 14, "excluded"),
            (None, 0, "kept"),
        ],
    )
    def test_boundaries(self, start: date | None, pre_start: int, expected: str) -> None:
        assert outcome(rules.not_started(pre_start), person(contract_start=start)) == expected

    def test_reason_gives_the_start_date(self) -> None:
        exclusion = decide([rules.not_started()], person(contract_start=date(2024, 9, 2)), CONTEXT)
        assert exclusion is not None
        assert "2024-09-02" in exclusion.reason

    def test_context_today_is_used(self) -> None:
        employee = person(contract_start=date(2024, 9, 2))
        assert outcome(rules.not_started(), employee, RuleContext(today=date(2024, 9, 2))) == "kept"


class TestFieldRules:
    """field_equals / field_matches / field_is_null address attributes and raw JSON."""

    EMPLOYEE = person(
        employee_number="00057",
        department=Ref(12, "Ventes"),
        legal_entity=Ref(3, "Acme Lyon"),
        extended_data={"e_contract_type": "Stagiaire", "e_sites": ["Lyon", "Paris"]},
        raw={
            "legalEntity": {"id": 3, "name": "Acme Lyon", "url": "https://x/3"},
            "extendedData": {
                "e_contract_type": {"id": 15847, "value": "Stagiaire"},
                "e_level": {"id": 8976, "value": 84},
                "e_composite": {"id": 1, "value": {"e_sub": {"value": "deep"}}},
            },
            "managerID": 7,
        },
    )

    @pytest.mark.parametrize(
        ("path", "value"),
        [
            ("department.name", "ventes"),
            ("department.id", 12),
            ("legal_entity.name", " ACME LYON "),
            ("legalEntity.name", "Acme Lyon"),
            ("extendedData.e_contract_type", "stagiaire"),
            ("extended_data.e_contract_type", "Stagiaire"),
            ("extendedData.e_level", "84"),
            ("extendedData.e_composite.e_sub", "deep"),
            ("extended_data.e_sites", "Paris"),
            ("managerId", 7),
            ("employee_number", "00057"),
        ],
    )
    def test_field_equals_finds_the_value(self, path: str, value: rules.Scalar) -> None:
        assert outcome(rules.field_equals(path, "unrelated", value), self.EMPLOYEE) == "excluded"

    @pytest.mark.parametrize(
        ("path", "value"),
        [
            ("department.name", "Vente"),
            ("employee_number", 57),
            ("legalEntity.nope", "Acme Lyon"),
            ("extendedData.missing", "x"),
            ("job_title", "x"),
        ],
    )
    def test_field_equals_keeps_when_nothing_matches(self, path: str, value: rules.Scalar) -> None:
        assert outcome(rules.field_equals(path, value), self.EMPLOYEE) == "kept"

    def test_field_equals_reason_cites_the_configured_value(self) -> None:
        rule = rules.field_equals("extendedData.e_contract_type", "Stagiaire", "Intern")
        exclusion = decide([rule], self.EMPLOYEE, CONTEXT)
        assert exclusion is not None
        assert exclusion.reason == "extendedData.e_contract_type is 'Stagiaire'"

    def test_field_matches_searches_with_the_regex(self) -> None:
        assert outcome(rules.field_matches("email", r"@acme\.example$"), self.EMPLOYEE) == (
            "excluded"
        )
        assert outcome(rules.field_matches("email", r"^contractor"), self.EMPLOYEE) == "kept"
        assert outcome(rules.field_matches("legalEntity.name", "(?i)lyon"), self.EMPLOYEE) == (
            "excluded"
        )

    def test_field_matches_reason_shows_the_pattern_not_the_value(self) -> None:
        exclusion = decide([rules.field_matches("email", "zoe")], self.EMPLOYEE, CONTEXT)
        assert exclusion is not None
        assert exclusion.reason == "email matches 'zoe'"

    def test_field_matches_on_dates_and_absent_values(self) -> None:
        employee = person(contract_start=date(2024, 1, 8))
        assert outcome(rules.field_matches("contract_start", r"^2024-01"), employee) == "excluded"
        assert outcome(rules.field_matches("job_title", ".*"), employee) == "kept"

    @pytest.mark.parametrize(
        ("employee", "expected"),
        [
            (person(job_title=None), "excluded"),
            (person(job_title="  "), "excluded"),
            (person(job_title="Comptable"), "kept"),
            (person(raw={"jobTitle": ""}), "excluded"),
        ],
    )
    def test_field_is_null(self, employee: Employee, expected: str) -> None:
        path = "jobTitle" if employee.raw else "job_title"
        assert outcome(rules.field_is_null(path), employee) == expected

    def test_field_is_null_for_unset_custom_field_shapes(self) -> None:
        employee = person(raw={"extendedData": {"e_a": None, "e_b": {"id": 1, "value": None}}})
        for path in ("extendedData.e_a", "extendedData.e_b", "extendedData.e_c"):
            assert outcome(rules.field_is_null(path), employee) == "excluded"

    @pytest.mark.parametrize("path", ["", "a..b", ".a", 3])
    def test_bad_paths_are_refused(self, path: object) -> None:
        with pytest.raises(ConfigurationError, match="path"):
            rules.field_is_null(path)  # type: ignore[arg-type]

    def test_invalid_regex_is_refused(self) -> None:
        with pytest.raises(ConfigurationError, match="regex"):
            rules.field_matches("email", "(")

    def test_field_equals_needs_values(self) -> None:
        with pytest.raises(ConfigurationError, match="values"):
            rules.field_equals("department.name")


class TestOrganisationRules:
    """in_department / in_legal_entity / email_domain match ids, names and domains."""

    EMPLOYEE = person(
        email="Zoe.Lefevre@Contractor.Example",
        department=Ref(12, "Ventes"),
        legal_entity=Ref(3, "Acme Lyon"),
    )

    @pytest.mark.parametrize(
        ("rule", "expected"),
        [
            (rules.in_department(12), "excluded"),
            (rules.in_department("VENTES"), "excluded"),
            (rules.in_department(13, "Finance"), "kept"),
            (rules.in_department("12"), "kept"),
            (rules.in_legal_entity(3), "excluded"),
            (rules.in_legal_entity("acme lyon"), "excluded"),
            (rules.in_legal_entity("Acme Paris", 1), "kept"),
            (rules.email_domain("contractor.example"), "excluded"),
            (rules.email_domain("@CONTRACTOR.EXAMPLE"), "excluded"),
            (rules.email_domain("example"), "kept"),
            (rules.email_domain("eu.contractor.example"), "kept"),
        ],
    )
    def test_matching(self, rule: rules.ExclusionRule, expected: str) -> None:
        assert outcome(rule, self.EMPLOYEE) == expected

    def test_no_department_no_entity_no_email_keeps(self) -> None:
        employee = person(email=None)
        for rule in (rules.in_department(12), rules.in_legal_entity(3), rules.email_domain("a.b")):
            assert outcome(rule, employee) == "kept"

    def test_reasons_name_the_unit_not_the_person(self) -> None:
        reasons = [
            decide([rule], self.EMPLOYEE, CONTEXT)
            for rule in (rules.in_department(12), rules.in_legal_entity(3))
        ]
        assert [r.reason for r in reasons if r] == [
            "in department 'Ventes' (id 12)",
            "in legal entity 'Acme Lyon' (id 3)",
        ]

    def test_email_reason_names_only_the_domain(self) -> None:
        exclusion = decide([rules.email_domain("contractor.example")], self.EMPLOYEE, CONTEXT)
        assert exclusion is not None
        assert "zoe" not in exclusion.reason.casefold()
        assert "contractor.example" in exclusion.reason

    @pytest.mark.parametrize("args", [(), (True,), (1.5,), ("",)])
    def test_bad_ids_or_names_are_refused(self, args: tuple[object, ...]) -> None:
        with pytest.raises(ConfigurationError, match="departments"):
            rules.in_department(*args)  # type: ignore[arg-type]

    @pytest.mark.parametrize("args", [(), ("",), ("@",), (3,)])
    def test_bad_domains_are_refused(self, args: tuple[object, ...]) -> None:
        with pytest.raises(ConfigurationError, match="domains"):
            rules.email_domain(*args)  # type: ignore[arg-type]


class TestReportsTo:
    """reports_to() follows the manager chain of the context, safely."""

    # 1 <- 2 <- 3 <- 4 ; 5 <-> 6 (a cycle) ; 8 manages itself
    MANAGERS: ClassVar[dict[int, int | None]] = {1: None, 2: 1, 3: 2, 4: 3, 5: 6, 6: 5, 7: 5, 8: 8}
    CONTEXT = RuleContext(today=TODAY, managers=MANAGERS)

    @pytest.mark.parametrize(
        ("employee_id", "manager", "expected"),
        [
            (2, 1, "excluded"),
            (4, 1, "excluded"),
            (4, 3, "excluded"),
            (1, 1, "kept"),
            (3, 4, "kept"),
            (7, 6, "excluded"),
            (7, 1, "kept"),
            (5, 2, "kept"),
            (8, 1, "kept"),
        ],
    )
    def test_transitive_and_cycle_safe(self, employee_id: int, manager: int, expected: str) -> None:
        employee = person(employee_id, manager_id=self.MANAGERS[employee_id])
        assert outcome(rules.reports_to(manager), employee, self.CONTEXT) == expected

    def test_reason_lists_the_chain_of_ids(self) -> None:
        exclusion = decide([rules.reports_to(1)], person(4, manager_id=3), self.CONTEXT)
        assert exclusion is not None
        assert exclusion.reason == "reports to employee 1 (through 3 → 2)"

    def test_manager_taken_from_the_graph_when_the_employee_lacks_it(self) -> None:
        assert outcome(rules.reports_to(1), person(4), self.CONTEXT) == "excluded"

    def test_for_employees_builds_the_graph(self) -> None:
        staff = [person(1), person(2, manager_id=1), person(3, manager_id=2)]
        context = RuleContext.for_employees(staff, today=TODAY)
        assert outcome(rules.reports_to(1), staff[2], context) == "excluded"

    def test_bad_manager_id_is_refused(self) -> None:
        with pytest.raises(ConfigurationError, match="manager_id"):
            rules.reports_to("7")  # type: ignore[arg-type]


class TestCombinators:
    """any_of / all_of / not_ decide by Kleene logic and compose readable reasons."""

    SALES = rules.in_department("Ventes")
    LEFT = rules.departed()
    EMPLOYEE = person(department=Ref(12, "Ventes"), contract_end=date(2024, 1, 31))

    def test_any_of_takes_the_first_excluding_reason(self) -> None:
        rule = rules.any_of(rules.in_department("Finance"), self.LEFT, self.SALES)
        exclusion = decide([rule], self.EMPLOYEE, CONTEXT)
        assert exclusion is not None
        assert "2024-01-31" in exclusion.reason
        assert exclusion.rule == (
            "any_of(in_department('Finance'), departed(grace_days=0), in_department('Ventes'))"
        )

    def test_any_of_prefers_a_certain_reason_to_an_uncertain_one(self) -> None:
        employee = attrs.evolve(self.EMPLOYEE, extended_data={"e_skip_elevo_sync": "peut-être"})
        exclusion = decide([rules.any_of(rules.skip_flag(), self.SALES)], employee, CONTEXT)
        assert exclusion is not None
        assert exclusion.warning is False
        assert "Ventes" in exclusion.reason

    def test_all_of_joins_the_reasons(self) -> None:
        exclusion = decide([rules.all_of(self.SALES, self.LEFT)], self.EMPLOYEE, CONTEXT)
        assert exclusion is not None
        assert exclusion.reason.startswith("in department 'Ventes' (id 12) and contract ended")

    def test_all_of_keeps_when_one_keeps(self) -> None:
        rule = rules.all_of(self.SALES, rules.in_legal_entity("Acme Lyon"))
        assert outcome(rule, self.EMPLOYEE) == "kept"

    def test_not_inverts(self) -> None:
        assert outcome(rules.not_(self.SALES), self.EMPLOYEE) == "kept"
        exclusion = decide([rules.not_(rules.in_department(99))], self.EMPLOYEE, CONTEXT)
        assert exclusion is not None
        assert exclusion.reason == "does not match in_department(99)"

    def test_not_of_an_uncertain_rule_stays_uncertain(self) -> None:
        assert outcome(rules.not_(rules.skip_flag()), flagged("?")) == "warned"

    def test_combinators_refuse_empty_or_non_callable_rules(self) -> None:
        with pytest.raises(ConfigurationError, match="rules"):
            rules.all_of()
        with pytest.raises(ConfigurationError, match="rules"):
            rules.any_of(self.SALES, "departed")  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match="of"):
            rules.not_(None)  # type: ignore[arg-type]


class TestNamesAndValues:
    """Rules are hashable, comparable values with stable, readable names."""

    @pytest.mark.parametrize(
        ("rule", "name"),
        [
            (rules.skip_flag(), "skip_flag('e_skip_elevo_sync')"),
            (rules.departed(30), "departed(grace_days=30)"),
            (
                rules.departed(today=date(2024, 1, 2)),
                "departed(grace_days=0, today=datetime.date(2024, 1, 2))",
            ),
            (rules.not_started(14), "not_started(pre_start_days=14)"),
            (rules.field_equals("a.b", "x", 2), "field_equals('a.b', 'x', 2)"),
            (rules.field_matches("email", r"\d"), r"field_matches('email', '\\d')"),
            (rules.field_is_null("job_title"), "field_is_null('job_title')"),
            (rules.in_department(1, "A"), "in_department(1, 'A')"),
            (rules.in_legal_entity("B"), "in_legal_entity('B')"),
            (rules.reports_to(7), "reports_to(7)"),
            (rules.email_domain("x.example"), "email_domain('x.example')"),
            (
                rules.not_(rules.any_of(rules.reports_to(1), rules.all_of(rules.departed()))),
                "not_(any_of(reports_to(1), all_of(departed(grace_days=0))))",
            ),
        ],
    )
    def test_name_and_repr(self, rule: rules.ExclusionRule, name: str) -> None:
        assert rules.rule_name(rule) == name
        assert repr(rule) == name

    def test_equal_rules_are_equal_and_hash_alike(self) -> None:
        assert rules.any_of(rules.skip_flag("e_x"), rules.departed(3)) == rules.any_of(
            rules.skip_flag("e_x"), rules.departed(3)
        )
        assert len({rules.departed(3), rules.departed(3), rules.departed(4)}) == 2

    def test_rules_are_frozen(self) -> None:
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            rules.skip_flag().code = "e_x"  # type: ignore[misc]

    def test_function_and_callable_names(self) -> None:
        def interns(employee: Employee) -> str | None:
            return None

        class Contractors:
            def __call__(self, employee: Employee) -> str | None:
                return None

        assert rules.rule_name(interns).endswith("interns")
        assert (
            rules.rule_name(Contractors())
            == "TestNamesAndValues.test_function_and_callable_names.<locals>.Contractors"
        )
        assert rules.rule_name(functools.partial(rules.in_department(1).__call__)).endswith(
            "InDepartment.__call__"
        )


def no_interns(employee: Employee) -> str | None:
    """A custom rule as a user would write it."""
    if employee.extended_data.get("e_contract_type") == "Stagiaire":
        return "interns are not evaluated in Elevo"
    return None


class TestDecide:
    """decide() runs rules in order, records the winner and contains failures."""

    def test_first_excluding_rule_wins(self) -> None:
        employee = flagged(True)
        exclusion = decide(
            [rules.in_department(1), rules.skip_flag(), rules.departed()], employee, CONTEXT
        )
        assert exclusion is not None
        assert exclusion.rule == "skip_flag('e_skip_elevo_sync')"

    def test_all_keep_gives_none(self) -> None:
        assert decide([rules.skip_flag(), rules.departed()], person(), CONTEXT) is None
        assert decide([], person(), CONTEXT) is None

    def test_plain_function_rule_is_named_and_its_reason_recorded(self) -> None:
        employee = person(7, extended_data={"e_contract_type": "Stagiaire"})
        assert decide([no_interns], employee, CONTEXT) == Exclusion(
            employee_id=7, rule="no_interns", reason="interns are not evaluated in Elevo"
        )

    def test_raising_rule_becomes_a_rule_error_naming_it(self) -> None:
        def broken(employee: Employee) -> str | None:
            raise KeyError("e_missing")

        with pytest.raises(RuleError) as caught:
            decide([rules.skip_flag(), broken], person(42), CONTEXT)
        assert caught.value.employee_id == 42
        assert caught.value.rule is not None
        assert caught.value.rule.endswith("broken")
        assert "42" in str(caught.value)
        assert isinstance(caught.value.__cause__, KeyError)

    def test_error_inside_a_combinator_names_the_top_level_rule(self) -> None:
        def broken(employee: Employee) -> str | None:
            raise ValueError("Zoé Lefèvre is odd")

        rule = rules.any_of(rules.departed(), broken)
        with pytest.raises(RuleError) as caught:
            decide([rule], person(), CONTEXT)
        assert caught.value.rule is not None
        assert caught.value.rule.startswith("any_of(departed(grace_days=0), ")
        assert "Zoé" not in str(caught.value)

    @pytest.mark.parametrize("result", [True, 1, b"no", ["x"]])
    def test_non_string_result_is_a_rule_error(self, result: object) -> None:
        def sloppy(employee: Employee) -> str | None:
            return result  # type: ignore[return-value]

        with pytest.raises(RuleError) as caught:
            decide([sloppy], person(), CONTEXT)
        assert isinstance(caught.value.__cause__, TypeError)
        assert f"returned {type(result).__name__}" in str(caught.value)

    @pytest.mark.parametrize("reason", ["", "   "])
    def test_blank_reason_still_excludes_and_says_so(self, reason: str) -> None:
        def terse(employee: Employee) -> str | None:
            return reason

        exclusion = decide([terse], person(), CONTEXT)
        assert exclusion is not None
        assert "no reason" in exclusion.reason
        assert exclusion.reason.strip()

    def test_uncertain_reason_from_a_custom_rule_warns(self) -> None:
        def unsure(employee: Employee) -> str | None:
            return rules.Uncertain("e_contract_type is unreadable")

        exclusion = decide([unsure], person(), CONTEXT)
        assert exclusion is not None
        assert exclusion.warning is True
        assert type(exclusion.reason) is str

    def test_context_is_visible_during_decide_only(self) -> None:
        seen: list[date] = []

        def spy(employee: Employee) -> str | None:
            seen.append(rules.current_context().today)
            return None

        decide([spy], person(), RuleContext(today=date(2030, 1, 2)))
        assert seen == [date(2030, 1, 2)]
        with pytest.raises(RuleError, match="no rule context"):
            rules.current_context()

    def test_context_is_restored_after_a_failure(self) -> None:
        def broken(employee: Employee) -> str | None:
            raise RuntimeError

        with pytest.raises(RuleError):
            decide([broken], person(), CONTEXT)
        with pytest.raises(RuleError):
            rules.current_context()


class TestRuleContext:
    """RuleContext holds a tenant-local date and a frozen manager graph."""

    def test_datetime_is_refused(self) -> None:
        with pytest.raises(ConfigurationError, match="today"):
            RuleContext(today=datetime(2024, 5, 15, 8, 0))

    def test_managers_are_copied_and_read_only(self) -> None:
        graph = {2: 1}
        context = RuleContext(today=TODAY, managers=graph)
        graph[3] = 2
        assert dict(context.managers) == {2: 1}
        with pytest.raises(TypeError):
            context.managers[4] = 1  # type: ignore[index]

    def test_exported_at_top_level(self) -> None:
        assert lucca_sync.RuleContext is RuleContext
        assert lucca_sync.Exclusion is Exclusion
        assert lucca_sync.ExclusionRule is rules.ExclusionRule


class TestKeysInAnotherCase:
    """Custom-field codes match whatever their case; the first spelling in the JSON wins."""

    def test_a_box_spelled_in_capitals_is_read(self) -> None:
        employee = person(extended_data={"e_site": "Lyon", "E_SKIP_ELEVO_SYNC": True})
        assert rules.skip_flag()(employee) == "check box e_skip_elevo_sync is ticked in Lucca"

    def test_the_first_of_two_spellings_wins(self) -> None:
        ticked_first = {"E_Skip_Elevo_Sync": True, "e_SKIP_elevo_sync": False}
        unticked_first = {"e_SKIP_elevo_sync": False, "E_Skip_Elevo_Sync": True}
        assert rules.skip_flag()(person(extended_data=ticked_first)) is not None
        assert rules.skip_flag()(person(extended_data=unticked_first)) is None

    def test_employees_with_the_same_codes_are_read_each_for_their_own_values(self) -> None:
        # The case-folded codes are cached by key set: the values must never be.
        boxes = [True, False, True, False]
        employees = [
            person(n, extended_data={"E_SKIP_ELEVO_SYNC": box}) for n, box in enumerate(boxes, 1)
        ]
        assert [rules.skip_flag()(e) is not None for e in employees] == boxes

    def test_a_path_into_custom_fields_ignores_case(self) -> None:
        employee = person(raw={"extendedData": {"E_Site": {"id": 3, "value": "Lyon"}}})
        assert rules.field_equals("extendedData.e_site", "lyon")(employee) is not None
