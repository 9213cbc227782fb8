"""Tests of declarative mappings: from_dict, TOML, cattrs, registered and entry-point transforms."""

from __future__ import annotations

import importlib.metadata
import tomllib
from collections.abc import Iterator
from datetime import date
from typing import Any

import attrs
import cattrs
import pytest

from lucca_sync import Employee, FieldMapping, Ref
from lucca_sync.exceptions import ConfigurationError
from lucca_sync.mapping import (
    ENTRY_POINT_GROUP,
    Coalesce,
    Constant,
    Field,
    Lookup,
    Path,
    Transform,
    register_cattrs_hooks,
    register_transform,
    strip,
    truncate,
)
from lucca_sync.mapping import _transforms as transforms_module


def employee(**overrides: Any) -> Employee:
    fields: dict[str, Any] = {
        "id": 7,
        "first_name": "Éloïse",
        "last_name": "Ngô",
        "email": "eloise.ngo@acme.example",
        "login": "engo",
        "job_title": "Comptable",
        "manager_id": 3,
        "department": Ref(id=4, name="Finance"),
        "legal_entity": Ref(id=2, name="Acme Lyon"),
        "contract_start": date(2021, 3, 15),
        "raw": {
            "legalEntity": {"id": 2, "name": "Acme Lyon"},
            "extendedData": {"e_site": {"id": 1, "value": "  Lyon Part-Dieu  "}},
        },
    }
    fields.update(overrides)
    return Employee(**fields)


FULL_TOML = """
extends = "elevo_default"
remove = ["job_title"]

[fields.custom_site]
source = "extendedData.e_site"
transforms = ["strip", { truncate = 4 }, "upper"]
apply = "always"
on_empty = "clear"

[fields.email]
coalesce = ["email", { template = "{login}@acme.example" }]

[fields.team_name]
template = "{department.name} / {legal_entity.name}"
apply = "create_only"

[fields.region.lookup]
source = "legal_entity.name"
table = { "Acme Paris" = "IDF", "Acme Lyon" = "ARA" }
default = "Other"

[fields.level]
constant = "A"

[fields.custom_start]
source = "contract_start"
transforms = [{ date_format = "%d/%m/%Y" }, { regex_replace = { pattern = "/", repl = "." } }]

[fields.custom_badge]
source = "login"
on_empty = "default"
default = "none"
"""


class TestFromDict:
    """A valid configuration builds the mapping it describes."""

    def test_full_toml_schema(self) -> None:
        mapping = FieldMapping.from_dict(tomllib.loads(FULL_TOML))
        record = mapping.map(employee())
        assert record == {
            "uniq_identifier": "7",
            "first_name": "Éloïse",
            "last_name": "Ngô",
            "email": "eloise.ngo@acme.example",
            "registration_number": None,
            "work_start_date": "2021-03-15",
            "department": "Finance",
            "custom_site": "LYON",
            "team_name": "Finance / Acme Lyon",
            "region": "ARA",
            "level": "A",
            "custom_start": "15.03.2021",
            "custom_badge": "engo",
            "manager_uniq_identifier": "3",
        }
        assert mapping.create_only == {"team_name"}

    def test_coalesce_falls_back_and_default_applies(self) -> None:
        mapping = FieldMapping.from_dict(tomllib.loads(FULL_TOML))
        record = mapping.map(employee(email=None, legal_entity=None))
        assert record["email"] == "engo@acme.example"
        assert record["region"] == "Other"
        assert mapping.map(employee(login=None))["custom_badge"] == "none"

    def test_equivalent_to_python_api(self) -> None:
        loaded = FieldMapping.from_dict(
            {
                "fields": {
                    "custom_site": {
                        "source": "extendedData.e_site",
                        "transforms": ["strip", {"truncate": 50}],
                    },
                    "region": {
                        "lookup": {"source": "legal_entity.name", "table": {"Acme Lyon": "ARA"}}
                    },
                    "department": None,
                }
            }
        )
        built = (
            FieldMapping.elevo_default()
            .without("department")
            .with_field(
                "custom_site", Field(Path("extendedData.e_site"), transforms=(strip, truncate(50)))
            )
            .with_field("region", Lookup("legal_entity.name", {"Acme Lyon": "ARA"}))
        )
        assert loaded == built

    def test_extends_none_starts_empty(self) -> None:
        mapping = FieldMapping.from_dict({"extends": "none", "fields": {"email": "email"}})
        assert mapping.target_keys == {"uniq_identifier", "email", "manager_uniq_identifier"}

    def test_bare_path_field_and_nested_sources(self) -> None:
        mapping = FieldMapping.from_dict(
            {
                "extends": "none",
                "fields": {
                    "custom_site": "extendedData.e_site",
                    "custom_x": {"coalesce": [{"source": "job_title"}, {"constant": 3}]},
                },
            }
        )
        assert mapping.fields["custom_x"] == Field(Coalesce(["job_title", Constant(3)]))
        assert mapping.map(employee(job_title=None))["custom_x"] == "3"

    def test_empty_config_is_the_default(self) -> None:
        assert FieldMapping.from_dict({}) == FieldMapping.elevo_default()

    def test_accepts_passes(self) -> None:
        mapping = FieldMapping.from_dict(
            {"fields": {"custom_site": "extendedData.e_site"}}, accepts=lambda k: True
        )
        assert "custom_site" in mapping.target_keys


class TestFromDictErrors:
    """Every problem of a configuration is reported at once, each with its path."""

    def test_all_problems_reported_together(self) -> None:
        data = {
            "extends": "elevo_default",
            "remove": ["nickname"],
            "colour": "blue",
            "fields": {
                "custom_site": {
                    "source": "extendedData.e site",
                    "transforms": [
                        "strip",
                        "shout",
                        {"truncate": "fifty"},
                        {"truncate": 1, "upper": None},
                    ],
                    "apply": "sometimes",
                    "on_empty": "default",
                },
                "region": {
                    "lookup": {"source": "legal_entity.name", "table": {"Acme": 3}, "fallback": "x"}
                },
                "level": {"constant": "A", "template": "{x}"},
                "team_name": {"template": "{first_name!r}"},
                "custom_n": {"coalesce": "email"},
                "custom_bad": 12,
                "uniq_identifier": "login",
                "custom_blocked": "login",
            },
        }
        with pytest.raises(ConfigurationError) as info:
            FieldMapping.from_dict(data, accepts=lambda key: key != "custom_blocked")
        problems = info.value.problems
        expected_prefixes = [
            "colour: unknown option",
            "fields.custom_site.source: malformed path",
            "fields.custom_site.transforms[1]: unknown transform 'shout'",
            "fields.custom_site.transforms[2]: bad arguments for transform 'truncate'",
            "fields.custom_site.transforms[3]: expected a transform name or a one-entry table",
            "fields.custom_site.apply: expected one of always, create_only",
            "fields.region.lookup.fallback: unknown option",
            "fields.region.lookup.table.Acme: expected text, got an integer",
            "fields.level: give exactly one of source, constant, coalesce, template, lookup"
            " (got constant, template)",
            "fields.team_name.template: template '{first_name!r}': placeholder",
            "fields.custom_n.coalesce: expected a non-empty list of sources",
            "fields.custom_bad: expected a path or a field table, got an integer",
            "fields.uniq_identifier: target key 'uniq_identifier' is fixed",
            "remove[0]: cannot remove 'nickname'",
            "fields.custom_blocked: the sink has no target key 'custom_blocked'",
        ]
        for prefix in expected_prefixes:
            assert any(problem.startswith(prefix) for problem in problems), prefix
        assert len(problems) == len(expected_prefixes)
        assert str(info.value).startswith(f"invalid field mapping, {len(problems)} problems: ")

    def test_missing_default_reported_when_rest_is_valid(self) -> None:
        with pytest.raises(ConfigurationError) as info:
            FieldMapping.from_dict({"fields": {"level": {"constant": "A", "on_empty": "default"}}})
        assert info.value.problems == (
            'fields.level: on_empty="default" needs a default text (default=...)',
        )

    @pytest.mark.parametrize(
        ("data", "problem"),
        [
            ({"extends": "elevo"}, "extends: expected one of elevo_default, none, got 'elevo'"),
            ({"remove": "department"}, "remove: expected a list of target keys, got text"),
            ({"fields": ["email"]}, "fields: expected a table of target key -> field, got a list"),
            (
                {"fields": {"x": {"lookup": "gender"}}},
                "fields.x.lookup: expected a table with source",
            ),
            (
                {"fields": {"x": {"source": 3}}},
                "fields.x.source: expected a path (text), got an integer",
            ),
            (
                {"fields": {"x": {"source": "login", "transforms": "strip"}}},
                "fields.x.transforms: expected a list",
            ),
            (
                {"fields": {"x": {"source": "login", "default": 3, "on_empty": "default"}}},
                "fields.x.default: expected text",
            ),
            (
                {"fields": {"x": {"coalesce": ["login", {"python": "m:f"}]}}},
                "fields.x.coalesce[1].python: unknown source",
            ),
            (
                {"fields": {"x": {"source": "login", "transforms": [{"regex_replace": ["("]}]}}},
                "fields.x.transforms[0]: bad arguments",
            ),
            (
                {"fields": {"email": "email"}, "remove": ["email"]},
                "fields.email: 'email' is also removed at remove[0]",
            ),
        ],
    )
    def test_single_problem_paths(self, data: dict[str, Any], problem: str) -> None:
        with pytest.raises(ConfigurationError) as info:
            FieldMapping.from_dict(data)
        assert any(p.startswith(problem) for p in info.value.problems), info.value.problems

    def test_not_a_table(self) -> None:
        with pytest.raises(ConfigurationError, match="is a table, not a list"):
            FieldMapping.from_dict(["email"])  # type: ignore[arg-type]

    def test_inherited_key_refused_by_the_sink(self) -> None:
        with pytest.raises(ConfigurationError) as info:
            FieldMapping.from_dict({}, accepts=lambda key: key != "department")
        assert info.value.problems == (
            "department (from elevo_default): the sink has no target key 'department'",
        )

    def test_is_also_a_value_error(self) -> None:
        with pytest.raises(ValueError, match="unknown option"):
            FieldMapping.from_dict({"field": {}})


@attrs.frozen
class _Config:
    mapping: FieldMapping
    name: str = "acme"


class TestCattrs:
    """A cattrs converter can structure FieldMapping inside a larger configuration."""

    def test_structures_mapping_attribute(self) -> None:
        converter = cattrs.Converter()
        register_cattrs_hooks(converter)
        config = converter.structure({"mapping": {"fields": {"level": {"constant": "A"}}}}, _Config)
        assert config.mapping.map(employee())["level"] == "A"

    def test_configuration_errors_surface(self) -> None:
        converter = cattrs.Converter(detailed_validation=False)
        register_cattrs_hooks(converter)
        with pytest.raises(ConfigurationError, match=r"fields\.level\.constant"):
            converter.structure({"mapping": {"fields": {"level": {"constant": [1]}}}}, _Config)


@pytest.fixture
def clean_registry() -> Iterator[None]:
    saved = dict(transforms_module._REGISTERED)
    transforms_module._REGISTERED.clear()
    yield
    transforms_module._REGISTERED.clear()
    transforms_module._REGISTERED.update(saved)


def _initials(value: object) -> object:
    return "".join(word[:1] for word in str(value).split())


def _shout(value: object) -> object:
    return str(value).upper()


def _repeat(times: int, *, separator: str = "") -> Transform:
    def repeat(value: object) -> object:
        return separator.join([str(value)] * times)

    return repeat


class TestRegisteredTransforms:
    """Transforms registered in Python are usable by name in configurations."""

    def test_registered_without_arguments(self, clean_registry: None) -> None:
        register_transform("initials", lambda: _initials)
        mapping = FieldMapping.from_dict(
            {
                "fields": {
                    "custom_i": {"template": "{first_name} {last_name}", "transforms": ["initials"]}
                }
            }
        )
        assert mapping.map(employee())["custom_i"] == "ÉN"
        explained = {e.key: e for e in mapping.explain(employee())}
        assert explained["custom_i"].transforms == (f"{__name__}._initials",)

    def test_registered_with_arguments(self, clean_registry: None) -> None:
        register_transform("repeat", _repeat)
        mapping = FieldMapping.from_dict(
            {
                "fields": {
                    "a": {"constant": "ab", "transforms": [{"repeat": 2}]},
                    "b": {
                        "constant": "ab",
                        "transforms": [{"repeat": {"times": 2, "separator": "-"}}],
                    },
                }
            }
        )
        record = mapping.map(employee())
        assert (record["a"], record["b"]) == ("abab", "ab-ab")

    def test_registered_arguments_checked_at_load(self, clean_registry: None) -> None:
        register_transform("repeat", _repeat)
        with pytest.raises(
            ConfigurationError, match=r"transforms\[0\]: bad arguments for transform 'repeat'"
        ):
            FieldMapping.from_dict({"fields": {"a": {"constant": "ab", "transforms": ["repeat"]}}})

    def test_per_call_transforms(self) -> None:
        mapping = FieldMapping.from_dict(
            {"fields": {"a": {"source": "last_name", "transforms": ["initials"]}}},
            transforms={"initials": lambda: _initials},
        )
        assert mapping.map(employee())["a"] == "N"

    def test_registration_rules(self, clean_registry: None) -> None:
        with pytest.raises(ConfigurationError, match="built in"):
            register_transform("strip", lambda: _initials)
        with pytest.raises(ConfigurationError, match="lower-case letters"):
            register_transform("Initials", lambda: _initials)
        register_transform("initials", lambda: _initials)
        with pytest.raises(ConfigurationError, match="already registered"):
            register_transform("initials", lambda: _initials)
        register_transform("initials", lambda: _shout, replace=True)
        mapping = FieldMapping.from_dict(
            {"fields": {"a": {"source": "login", "transforms": ["initials"]}}}
        )
        assert mapping.map(employee())["a"] == "ENGO"


class _FakeEntryPoint:
    def __init__(self, name: str, value: str, target: object) -> None:
        self.name = name
        self.value = value
        self.group = ENTRY_POINT_GROUP
        self._target = target

    def load(self) -> object:
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


@pytest.fixture
def entry_points(monkeypatch: pytest.MonkeyPatch, clean_registry: None) -> list[_FakeEntryPoint]:
    """Installed entry points, seen by a registry holding no Python registration."""
    installed: list[_FakeEntryPoint] = []

    def fake(*, group: str) -> list[_FakeEntryPoint]:
        return [entry for entry in installed if entry.group == group]

    monkeypatch.setattr(importlib.metadata, "entry_points", fake)
    return installed


class TestEntryPointTransforms:
    """Installed packages provide transforms through the lucca_sync.transforms group."""

    def test_entry_point_transform_used_by_name(self, entry_points: list[_FakeEntryPoint]) -> None:
        entry_points.append(_FakeEntryPoint("initials", "acme_hr:initials", lambda: _initials))
        mapping = FieldMapping.from_dict(
            {"fields": {"a": {"source": "first_name", "transforms": ["initials"]}}}
        )
        assert mapping.map(employee())["a"] == "É"

    def test_broken_entry_point_is_a_configuration_problem(
        self, entry_points: list[_FakeEntryPoint]
    ) -> None:
        entry_points.append(
            _FakeEntryPoint("initials", "acme_hr:initials", ImportError("no acme_hr"))
        )
        with pytest.raises(ConfigurationError) as info:
            FieldMapping.from_dict(
                {"fields": {"a": {"source": "login", "transforms": ["initials", "nope"]}}}
            )
        assert len(info.value.problems) == 2
        assert "entry point acme_hr:initials failed to load (ImportError" in info.value.problems[0]

    def test_ambiguous_entry_points_rejected(self, entry_points: list[_FakeEntryPoint]) -> None:
        entry_points.append(_FakeEntryPoint("initials", "a:f", lambda: _initials))
        entry_points.append(_FakeEntryPoint("initials", "b:f", lambda: _initials))
        with pytest.raises(ConfigurationError, match="several installed packages"):
            FieldMapping.from_dict(
                {"fields": {"a": {"source": "login", "transforms": ["initials"]}}}
            )

    def test_builtins_win_over_entry_points(self, entry_points: list[_FakeEntryPoint]) -> None:
        entry_points.append(_FakeEntryPoint("upper", "evil:upper", lambda: _initials))
        mapping = FieldMapping.from_dict(
            {"fields": {"a": {"source": "login", "transforms": ["upper"]}}}
        )
        assert mapping.map(employee())["a"] == "ENGO"

    def test_factory_returning_non_callable(self, entry_points: list[_FakeEntryPoint]) -> None:
        entry_points.append(_FakeEntryPoint("initials", "acme_hr:initials", lambda: "nope"))
        with pytest.raises(ConfigurationError, match="returned text, not a callable"):
            FieldMapping.from_dict(
                {"fields": {"a": {"source": "login", "transforms": ["initials"]}}}
            )
