"""Property tests: the combinators obey Kleene logic and the skip flag never raises."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from lucca_sync import Employee, Ref, rules
from lucca_sync.rules import RuleContext, decide

TODAY = date(2024, 5, 15)

FLAG_VALUES = st.sampled_from([None, True, False, "true", "non", "oui ", 1, 0, "peut-être", 7])

employees = st.builds(
    Employee,
    id=st.integers(1, 8),
    first_name=st.just("Hélène"),
    last_name=st.just("Dubois-Maréchal"),
    email=st.sampled_from([None, "h.dubois@acme.example", "h.dubois@Ext.Example"]),
    job_title=st.sampled_from([None, "", "Comptable"]),
    manager_id=st.one_of(st.none(), st.integers(1, 8)),
    department=st.sampled_from([None, Ref(1, "Ventes"), Ref(2, "Finance")]),
    legal_entity=st.sampled_from([None, Ref(1, "Acme Paris"), Ref(2, "Acme Lyon")]),
    contract_start=st.one_of(st.none(), st.integers(-60, 60).map(lambda d: TODAY + timedelta(d))),
    contract_end=st.one_of(st.none(), st.integers(-60, 60).map(lambda d: TODAY + timedelta(d))),
    extended_data=st.fixed_dictionaries(
        {"e_skip_elevo_sync": FLAG_VALUES, "e_type": st.sampled_from(["CDI", "Stagiaire"])}
    ),
)

contexts = st.builds(
    RuleContext,
    today=st.just(TODAY),
    managers=st.dictionaries(st.integers(1, 8), st.one_of(st.none(), st.integers(1, 8))),
)

LEAVES = [
    rules.skip_flag(),
    rules.departed(),
    rules.departed(30),
    rules.not_started(),
    rules.not_started(14),
    rules.in_department("Ventes"),
    rules.in_legal_entity(2),
    rules.email_domain("ext.example"),
    rules.field_equals("extended_data.e_type", "Stagiaire"),
    rules.field_matches("email", "^h\\."),
    rules.field_is_null("job_title"),
    rules.reports_to(1),
]

rule_trees = st.recursive(
    st.sampled_from(LEAVES),
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda rs: rules.any_of(*rs)),
        st.lists(children, min_size=1, max_size=3).map(lambda rs: rules.all_of(*rs)),
        children.map(rules.not_),
    ),
    max_leaves=6,
)


def verdict(rule: rules.ExclusionRule, employee: Employee, context: RuleContext) -> str:
    exclusion = decide([rule], employee, context)
    if exclusion is None:
        return "kept"
    return "warned" if exclusion.warning else "excluded"


class TestCombinatorLaws:
    """Decisions (kept / excluded / warned) follow three-valued logic."""

    @given(rule_trees, employees, contexts)
    def test_double_negation(
        self, rule: rules.ExclusionRule, employee: Employee, context: RuleContext
    ) -> None:
        assert verdict(rules.not_(rules.not_(rule)), employee, context) == verdict(
            rule, employee, context
        )

    @given(st.lists(rule_trees, min_size=2, max_size=4), st.data(), employees, contexts)
    def test_any_of_and_all_of_decide_the_same_in_any_order(
        self,
        members: list[rules.ExclusionRule],
        data: st.DataObject,
        employee: Employee,
        context: RuleContext,
    ) -> None:
        other = data.draw(st.permutations(members))
        for combine in (rules.any_of, rules.all_of):
            assert verdict(combine(*members), employee, context) == verdict(
                combine(*other), employee, context
            )

    @given(rule_trees, rule_trees, employees, contexts)
    def test_de_morgan(
        self,
        first: rules.ExclusionRule,
        second: rules.ExclusionRule,
        employee: Employee,
        context: RuleContext,
    ) -> None:
        left = rules.not_(rules.any_of(first, second))
        right = rules.all_of(rules.not_(first), rules.not_(second))
        assert verdict(left, employee, context) == verdict(right, employee, context)

    @given(rule_trees, employees, contexts)
    def test_single_member_combinators_decide_like_the_member(
        self, rule: rules.ExclusionRule, employee: Employee, context: RuleContext
    ) -> None:
        expected = verdict(rule, employee, context)
        assert verdict(rules.any_of(rule), employee, context) == expected
        assert verdict(rules.all_of(rule), employee, context) == expected

    @given(rule_trees, employees, contexts)
    def test_exclusions_always_have_a_reason(
        self, rule: rules.ExclusionRule, employee: Employee, context: RuleContext
    ) -> None:
        exclusion = decide([rule], employee, context)
        if exclusion is not None:
            assert exclusion.reason.strip()
            assert "Hélène" not in exclusion.reason
            assert "Dubois" not in exclusion.reason


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["id", "value", "e_x", "name"]), children, max_size=3)
    ),
    max_leaves=8,
)

TICKED = {"true", "1", "yes", "oui"}
UNTICKED = {"false", "0", "no", "non", ""}


def expected_flag(value: object) -> str:
    """The documented reading of a check box, written independently of the implementation."""
    while isinstance(value, dict) and "value" in value:
        value = value["value"]
    if value is None or value is False or (type(value) in (int, float) and value == 0):
        return "kept"
    if value is True or (type(value) in (int, float) and value == 1):
        return "excluded"
    if isinstance(value, str):
        text = value.strip().lower()
        if text in TICKED:
            return "excluded"
        if text in UNTICKED:
            return "kept"
    return "warned"


class TestSkipFlagTotality:
    """skip_flag reads any JSON value without raising, as documented."""

    @given(json_values, st.booleans(), st.booleans())
    def test_never_raises_and_reads_as_documented(
        self, value: object, wrapped: bool, raw_only: bool
    ) -> None:
        wire = {"id": 90001, "value": value} if wrapped else value
        payload = {"e_skip_elevo_sync": wire}
        employee = Employee(
            id=1,
            first_name="Loïc",
            last_name="N'Diaye",
            extended_data={} if raw_only else payload,
            raw={"extendedData": payload},
        )
        result = rules.skip_flag()(employee)
        assert result is None or isinstance(result, str)
        assert verdict(rules.skip_flag(), employee, RuleContext(today=TODAY)) == expected_flag(wire)
