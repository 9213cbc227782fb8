"""Exclusion rules from configuration: TOML/dict tables, all problems at once, plugins."""

from __future__ import annotations

import sys
import textwrap
import tomllib
from datetime import date
from importlib.metadata import EntryPoint, EntryPoints
from pathlib import Path
from types import ModuleType

import pytest

from lucca_sync import Employee, Ref, rules
from lucca_sync.exceptions import ConfigurationError
from lucca_sync.rules import RuleContext, decide, rules_from_config

CONTEXT = RuleContext(today=date(2024, 5, 15))


def problems_of(data: object) -> tuple[str, ...]:
    with pytest.raises(ConfigurationError) as caught:
        rules_from_config(data)  # type: ignore[arg-type]
    return caught.value.problems


class TestBuiltinsFromConfig:
    """Each built-in is built from its table into the same object as its factory."""

    @pytest.mark.parametrize(
        ("table", "expected"),
        [
            ({"rule": "skip_flag"}, rules.skip_flag()),
            ({"rule": "skip_flag", "code": "e_x"}, rules.skip_flag("e_x")),
            ({"rule": "departed", "grace_days": 30}, rules.departed(30)),
            (
                {"rule": "departed", "today": "2024-01-02"},
                rules.departed(today=date(2024, 1, 2)),
            ),
            ({"rule": "not_started", "pre_start_days": 14}, rules.not_started(14)),
            (
                {"rule": "field_equals", "path": "legalEntity.name", "values": ["A", 3, True]},
                rules.field_equals("legalEntity.name", "A", 3, True),
            ),
            (
                {"rule": "field_matches", "path": "email", "regex": "@ext\\."},
                rules.field_matches("email", "@ext\\."),
            ),
            ({"rule": "field_is_null", "path": "job_title"}, rules.field_is_null("job_title")),
            (
                {"rule": "in_department", "departments": [12, "Ventes"]},
                rules.in_department(12, "Ventes"),
            ),
            (
                {"rule": "in_legal_entity", "legal_entities": ["Acme Lyon"]},
                rules.in_legal_entity("Acme Lyon"),
            ),
            ({"rule": "reports_to", "manager_id": 7}, rules.reports_to(7)),
            (
                {"rule": "email_domain", "domains": ["contractor.example"]},
                rules.email_domain("contractor.example"),
            ),
            (
                {
                    "rule": "any_of",
                    "rules": [
                        {"rule": "departed"},
                        {"rule": "all_of", "rules": [{"rule": "skip_flag"}]},
                    ],
                },
                rules.any_of(rules.departed(), rules.all_of(rules.skip_flag())),
            ),
            (
                {"rule": "not", "of": {"rule": "in_legal_entity", "legal_entities": [1]}},
                rules.not_(rules.in_legal_entity(1)),
            ),
            ({"rule": "not_", "of": {"rule": "skip_flag"}}, rules.not_(rules.skip_flag())),
        ],
    )
    def test_table_builds_the_rule(self, table: dict[str, object], expected: object) -> None:
        assert rules_from_config([table]) == (expected,)

    def test_toml_document(self) -> None:
        document = tomllib.loads(
            textwrap.dedent(
                """
                [[rules]]
                rule = "skip_flag"
                code = "e_skip_elevo_sync"

                [[rules]]
                rule = "departed"
                grace_days = 30
                today = 2024-05-01

                [[rules]]
                rule = "not"
                of = { rule = "in_legal_entity", legal_entities = ["Acme Paris", 2] }
                """
            )
        )
        assert rules_from_config(document["rules"]) == (
            rules.skip_flag(),
            rules.departed(30, today=date(2024, 5, 1)),
            rules.not_(rules.in_legal_entity("Acme Paris", 2)),
        )

    def test_configured_rules_decide(self) -> None:
        loaded = rules_from_config(
            [{"rule": "any_of", "rules": [{"rule": "in_department", "departments": ["Ventes"]}]}]
        )
        employee = Employee(
            id=5, first_name="Loïc", last_name="Müller", department=Ref(4, "Ventes")
        )
        exclusion = decide(loaded, employee, CONTEXT)
        assert exclusion is not None
        assert exclusion.reason == "in department 'Ventes' (id 4)"

    def test_empty_list_gives_no_rules(self) -> None:
        assert rules_from_config([]) == ()


class TestConfigProblems:
    """Every problem is reported at once, each with its path."""

    def test_every_problem_with_its_path(self) -> None:
        problems = problems_of(
            [
                {"rule": "skip_flag", "code": 3},
                {"rule": "departd"},
                {"rule": "departed", "grace_days": "30", "grace": 1},
                "skip_flag",
                {
                    "rule": "any_of",
                    "rules": [
                        {"rule": "departed", "grace_days": -1},
                        {"rule": "field_equals", "path": "a", "values": "Stagiaire"},
                        {"rule": "not"},
                    ],
                },
                {"rule": "field_matches", "path": "email", "regex": "("},
                {"rule": "field_equals"},
                {"rule": "in_department", "departments": [True, 1.5]},
                {"rule": "departed", "today": "2024-13-01"},
                {"code": "e_x"},
                {"rule": 3},
                {"rule": "all_of", "rules": []},
            ]
        )
        expected = [
            "rules[0].code: expected a string",
            "rules[1].rule: unknown rule 'departd'; did you mean 'departed'?",
            "rules[2].grace_days: expected an integer",
            "rules[2].grace: unknown option",
            "rules[3]: expected a table with a 'rule' key",
            "rules[4].rules[0].grace_days: expected a whole number of days",
            "rules[4].rules[1].values: expected a list",
            "rules[4].rules[2].of: required option is missing",
            "rules[5].regex: not a valid regular expression",
            "rules[6].path: required option is missing",
            "rules[6].values: required option is missing",
            "rules[7].departments[0]: expected an integer or a string, got a boolean",
            "rules[7].departments[1]: expected an integer or a string, got a number",
            "rules[8].today: expected a date",
            "rules[9].rule: missing",
            "rules[10].rule: expected a rule name",
            "rules[11].rules: expected at least one rule",
        ]
        assert len(problems) == len(expected)
        for problem, start in zip(problems, expected, strict=True):
            assert problem.startswith(start), (problem, start)

    def test_message_counts_and_joins_the_problems(self) -> None:
        with pytest.raises(ConfigurationError) as caught:
            rules_from_config([{"rule": "departed", "grace_days": "x"}, {"rule": "nope"}])
        message = str(caught.value)
        assert message.startswith("2 problems in the exclusion rules: ")
        assert "rules[0].grace_days" in message
        assert "rules[1].rule" in message

    def test_unknown_option_lists_the_accepted_ones(self) -> None:
        (problem,) = problems_of([{"rule": "departed", "grace": 3}])
        assert "grace_days" in problem
        assert "today" in problem

    @pytest.mark.parametrize("data", [{"rule": "skip_flag"}, "skip_flag", None])
    def test_not_a_list(self, data: object) -> None:
        (problem,) = problems_of(data)
        assert problem.startswith("rules: expected a list of rule tables")

    def test_custom_path_prefix(self) -> None:
        with pytest.raises(ConfigurationError) as caught:
            rules_from_config([{"rule": "nope"}], path="sync.rules")
        assert caught.value.problems[0].startswith("sync.rules[0].rule: unknown rule")

    def test_configuration_error_is_a_value_error(self) -> None:
        with pytest.raises(ValueError, match="grace_days"):
            rules_from_config([{"rule": "departed", "grace_days": 1.5}])


def contractors(
    *, domain: str = "contractor.example", reason: str = "contractor"
) -> rules.ExclusionRule:
    """A third-party rule factory, as a plugin package would ship it."""

    def rule(employee: Employee) -> str | None:
        email = employee.email or ""
        return reason if email.endswith("@" + domain) else None

    rule.__qualname__ = f"contractors({domain!r})"
    return rule


@pytest.fixture
def plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Entry points of the ``lucca_sync.rules`` group, as installed packages would declare."""
    module = ModuleType("acme_lucca_rules")
    module.contractors = contractors  # type: ignore[attr-defined]
    module.not_a_factory = 42  # type: ignore[attr-defined]
    module.returns_number = lambda: 42  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "acme_lucca_rules", module)
    installed = EntryPoints(
        [
            EntryPoint("acme.contractors", "acme_lucca_rules:contractors", "lucca_sync.rules"),
            EntryPoint("acme.broken", "acme_lucca_rules_missing:rule", "lucca_sync.rules"),
            EntryPoint("acme.number", "acme_lucca_rules:not_a_factory", "lucca_sync.rules"),
            EntryPoint("acme.returns", "acme_lucca_rules:returns_number", "lucca_sync.rules"),
            EntryPoint("other.thing", "acme_lucca_rules:contractors", "other.group"),
        ]
    )

    def fake_entry_points(*, group: str) -> EntryPoints:
        return installed.select(group=group)

    monkeypatch.setattr("lucca_sync.rules._config.entry_points", fake_entry_points)


@pytest.mark.usefixtures("plugin")
class TestPluginRules:
    """Rules named in configuration are found among the lucca_sync.rules entry points."""

    def test_plugin_rule_is_built_with_the_table_options(self) -> None:
        (rule,) = rules_from_config([{"rule": "acme.contractors", "domain": "ext.example"}])
        employee = Employee(id=9, first_name="Anaïs", last_name="Da Silva", email="a@ext.example")
        exclusion = decide([rule], employee, CONTEXT)
        assert exclusion is not None
        assert exclusion.rule == "contractors('ext.example')"
        assert exclusion.reason == "contractor"

    def test_plugin_rules_compose_with_builtins(self) -> None:
        (rule,) = rules_from_config(
            [{"rule": "all_of", "rules": [{"rule": "acme.contractors"}, {"rule": "skip_flag"}]}]
        )
        assert rules.rule_name(rule) == (
            "all_of(contractors('contractor.example'), skip_flag('e_skip_elevo_sync'))"
        )

    def test_plugin_problems_are_reported_with_the_others(self) -> None:
        problems = problems_of(
            [
                {"rule": "acme.contractors", "domian": "x"},
                {"rule": "acme.broken"},
                {"rule": "acme.number"},
                {"rule": "other.thing"},
                {"rule": "departed", "grace_days": -3},
                {"rule": "acme.returns"},
            ]
        )
        assert len(problems) == 6
        assert problems[0].startswith("rules[0]: entry point 'acme.contractors'")
        assert "domian" in problems[0]
        assert problems[1].startswith("rules[1].rule: could not load entry point 'acme.broken'")
        assert "ModuleNotFoundError" in problems[1]
        assert problems[2].startswith("rules[2].rule: entry point 'acme.number'")
        assert "not a rule factory" in problems[2]
        assert problems[3].startswith("rules[3].rule: unknown rule 'other.thing'")
        assert problems[4].startswith("rules[4].grace_days")
        assert problems[5].startswith("rules[5]: entry point 'acme.returns'")
        assert "not a rule (a callable)" in problems[5]

    def test_unknown_rule_lists_installed_plugins(self) -> None:
        (problem,) = problems_of([{"rule": "acme.contractor"}])
        assert "did you mean 'acme.contractors'?" in problem
        assert "acme.number" in problem

    def test_builtin_names_cannot_be_shadowed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        shadow = EntryPoints(
            [EntryPoint("departed", "acme_lucca_rules:contractors", "lucca_sync.rules")]
        )
        monkeypatch.setattr(
            "lucca_sync.rules._config.entry_points", lambda *, group: shadow.select(group=group)
        )
        assert rules_from_config([{"rule": "departed"}]) == (rules.departed(),)


def test_plugin_from_an_installed_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real distribution on sys.path declaring the entry point is discovered by name."""
    (tmp_path / "acme_dist_rules.py").write_text(
        textwrap.dedent(
            """
            def interns(*, code="e_contract_type"):
                def rule(employee):
                    return "intern" if employee.extended_data.get(code) == "Stagiaire" else None
                return rule
            """
        ),
        encoding="utf-8",
    )
    dist_info = tmp_path / "acme_dist_rules-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: acme-dist-rules\nVersion: 1.0\n", encoding="utf-8"
    )
    (dist_info / "entry_points.txt").write_text(
        "[lucca_sync.rules]\nacme.interns = acme_dist_rules:interns\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "acme_dist_rules", raising=False)

    (rule,) = rules_from_config([{"rule": "acme.interns", "code": "e_type"}])
    intern = Employee(
        id=3, first_name="Gaëlle", last_name="Le Gall", extended_data={"e_type": "Stagiaire"}
    )
    exclusion = decide([rule], intern, CONTEXT)
    assert exclusion is not None
    assert exclusion.reason == "intern"
