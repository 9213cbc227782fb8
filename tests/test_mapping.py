"""Tests of the mapping engine: default mapping, sources, transforms, policies, errors, explain."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from lucca_sync import Employee, FieldMapping, Ref
from lucca_sync.exceptions import ConfigurationError, InvalidValueError, MappingError
from lucca_sync.mapping import (
    Coalesce,
    Computed,
    Constant,
    Field,
    Lookup,
    Path,
    Template,
    date_format,
    lower,
    normalize_diacritics,
    regex_replace,
    strip,
    title,
    truncate,
    upper,
)


def make_employee(**overrides: Any) -> Employee:
    """A realistic employee as the reader builds it, raw JSON included."""
    fields: dict[str, Any] = {
        "id": 416,
        "first_name": "Zoé",
        "last_name": "Lefèvre-Đặng",
        "email": "zoe.lefevre@acme.example",
        "login": "zlefevre",
        "employee_number": "00057",
        "job_title": "Développeuse",
        "manager_id": 383,
        "department": Ref(id=12, name="BU Timmi"),
        "legal_entity": Ref(id=1, name="Acme Paris"),
        "contract_start": date(2014, 9, 1),
        "contract_end": None,
        "modified_at": datetime(2025, 1, 10, 9, 12, 44),
        "extended_data": {"e_site": " Paris 11 ", "e_level": 3},
        "raw": {
            "id": 416,
            "firstName": "Zoé",
            "mail": "zoe.lefevre@acme.example",
            "gender": "Female",
            "legalEntity": {"id": 1, "name": "Acme Paris"},
            "extendedData": {
                "e_site": {"id": 9001, "value": " Paris 11 "},
                "e_langs": [{"id": 1, "value": "fr"}, {"id": 2, "value": "en"}],
                "e_address": {"id": 7, "value": {"e_city": {"value": "Lyon"}}},
                "e_ratio": {"id": 8, "value": 80.0},
            },
        },
    }
    fields.update(overrides)
    return Employee(**fields)


def one(field: Field | str, employee: Employee | None = None, key: str = "custom_x") -> str | None:
    """The value a single-field mapping produces for ``key`` (absent -> KeyError)."""
    record = FieldMapping({key: field}).map(employee or make_employee())
    return record[key]


class TestElevoDefault:
    """The default mapping produces Elevo's documented keys from a Lucca employee."""

    def test_maps_every_documented_key(self) -> None:
        record = FieldMapping.elevo_default().map(make_employee())
        assert record == {
            "uniq_identifier": "416",
            "first_name": "Zoé",
            "last_name": "Lefèvre-Đặng",
            "email": "zoe.lefevre@acme.example",
            "job_title": "Développeuse",
            "registration_number": "00057",
            "work_start_date": "2014-09-01",
            "department": "BU Timmi",
            "manager_uniq_identifier": "383",
        }

    def test_identifier_first_and_manager_last(self) -> None:
        keys = list(FieldMapping.elevo_default().map(make_employee()))
        assert keys[0] == "uniq_identifier"
        assert keys[-1] == "manager_uniq_identifier"

    def test_missing_values_are_cleared(self) -> None:
        employee = make_employee(
            job_title=None,
            employee_number=None,
            department=None,
            contract_start=None,
            manager_id=None,
        )
        record = FieldMapping.elevo_default().map(employee)
        for key in ("job_title", "registration_number", "department", "work_start_date"):
            assert record[key] is None
        assert record["manager_uniq_identifier"] is None

    def test_blank_name_is_cleared_not_kept_as_spaces(self) -> None:
        record = FieldMapping.elevo_default().map(make_employee(job_title="   "))
        assert record["job_title"] is None

    def test_target_keys_and_no_create_only(self) -> None:
        mapping = FieldMapping.elevo_default()
        assert mapping.target_keys == {
            "uniq_identifier",
            "first_name",
            "last_name",
            "email",
            "job_title",
            "registration_number",
            "work_start_date",
            "department",
            "manager_uniq_identifier",
        }
        assert mapping.create_only == frozenset()

    def test_empty_mapping_still_holds_the_identifiers(self) -> None:
        record = FieldMapping().map(make_employee(manager_id=None))
        assert record == {"uniq_identifier": "416", "manager_uniq_identifier": None}


class TestPathSource:
    """Paths read Employee attributes, or the raw JSON with Lucca's wrappers removed."""

    def test_ref_name_and_id(self) -> None:
        assert one("legal_entity.name") == "Acme Paris"
        assert one("department.id") == "12"

    def test_extended_data_attribute(self) -> None:
        assert one("extended_data.e_site") == " Paris 11 "
        assert one("extended_data.e_level") == "3"

    def test_raw_json_unwraps_id_value(self) -> None:
        assert one("extendedData.e_site") == " Paris 11 "
        assert one("legalEntity.name") == "Acme Paris"
        assert one("gender") == "Female"

    def test_raw_composite_reaches_inside_the_value(self) -> None:
        assert one("extendedData.e_address.e_city") == "Lyon"

    def test_raw_wrapper_id_is_reachable(self) -> None:
        assert one("extendedData.e_site.id") == "9001"

    def test_missing_raw_key_gives_no_value(self) -> None:
        assert one("extendedData.e_nothing") is None
        assert one("nationality.code") is None

    def test_float_written_plainly(self) -> None:
        assert one("extendedData.e_ratio") == "80"

    def test_dates_and_datetimes_iso(self) -> None:
        assert one("contract_start") == "2014-09-01"
        assert one("modified_at") == "2025-01-10T09:12:44"

    def test_list_value_is_a_mapping_error(self) -> None:
        with pytest.raises(MappingError, match=r"extendedData\.e_langs is a list") as info:
            one("extendedData.e_langs")
        assert info.value.field == "custom_x"
        assert info.value.employee_id == 416

    def test_walking_through_a_scalar_is_a_mapping_error(self) -> None:
        with pytest.raises(MappingError, match="gender is text, not an object"):
            one("gender.label")

    @pytest.mark.parametrize(
        ("path", "message"),
        [
            ("", "malformed path"),
            ("first_name..x", "malformed path"),
            ("e site", "malformed path"),
            ("first_name.x", "single value"),
            ("department", "use department.name"),
            ("department.code", "only 'id' and 'name'"),
            ("extended_data", "name a key inside"),
        ],
    )
    def test_malformed_paths_rejected_at_construction(self, path: str, message: str) -> None:
        with pytest.raises(ConfigurationError, match=message):
            Path(path)


class TestOtherSources:
    """Constants, coalesce, templates, lookups and Python callables."""

    def test_constant(self) -> None:
        assert one(Field(Constant("A"))) == "A"
        assert one(Field(Constant(True))) == "true"
        assert one(Field(Constant(Decimal("12.50")))) == "12.5"

    def test_constant_rejects_lists(self) -> None:
        with pytest.raises(ConfigurationError, match="a constant must be"):
            Constant(["a"])  # type: ignore[arg-type]

    def test_coalesce_takes_first_non_empty(self) -> None:
        field = Field(Coalesce(["job_title", "login"]))
        assert one(field, make_employee(job_title="  ")) == "zlefevre"
        assert one(field) == "Développeuse"
        assert one(field, make_employee(job_title=None, login=None)) is None

    def test_coalesce_needs_sources(self) -> None:
        with pytest.raises(ConfigurationError, match="non-empty list"):
            Coalesce([])

    def test_template(self) -> None:
        field = Field(Template("{first_name} {last_name} ({legal_entity.name})"))
        assert one(field) == "Zoé Lefèvre-Đặng (Acme Paris)"

    def test_template_with_some_empty_placeholders(self) -> None:
        assert one(Field(Template("{job_title}/{login}")), make_employee(login=None)) == (
            "Développeuse/"
        )

    def test_template_with_every_placeholder_empty_gives_no_value(self) -> None:
        field = Field(Template("{job_title} - {login}"), on_empty="leave")
        record = FieldMapping({"team_name": field}).map(make_employee(job_title=None, login=None))
        assert "team_name" not in record

    def test_template_literal_braces(self) -> None:
        assert one(Field(Template("{{{login}}}"))) == "{zlefevre}"

    @pytest.mark.parametrize(
        ("template", "message"),
        [("{first_name", "malformed template"), ("{login!r}", "no format spec"), ("{x y}", "path")],
    )
    def test_bad_templates_rejected(self, template: str, message: str) -> None:
        with pytest.raises(ConfigurationError, match=message):
            Template(template)

    def test_lookup_with_default(self) -> None:
        table = {"Acme Paris": "IDF", "Acme Lyon": "ARA"}
        assert one(Field(Lookup("legal_entity.name", table, default="Other"))) == "IDF"
        other = make_employee(legal_entity=Ref(id=2, name="Acme Nantes"))
        assert one(Field(Lookup("legal_entity.name", table, default="Other")), other) == "Other"
        assert one(Field(Lookup("legal_entity.name", table)), other) is None

    def test_lookup_compares_text(self) -> None:
        assert one(Field(Lookup("department.id", {"12": "Tech"}))) == "Tech"

    def test_lookup_table_must_map_text(self) -> None:
        with pytest.raises(ConfigurationError, match="maps text to text"):
            Lookup("gender", {"Male": 1})  # type: ignore[dict-item]

    def test_callable_source(self) -> None:
        def initials(employee: Employee) -> str:
            return employee.first_name[0] + employee.last_name[0]

        assert one(Field(initials)) == "ZL"
        assert one(Field(Computed(lambda e: e.contract_start))) == "2014-09-01"

    def test_callable_raising_is_a_mapping_error_without_its_message(self) -> None:
        def broken(employee: Employee) -> str:
            raise KeyError("zoe.lefevre@acme.example")

        with pytest.raises(MappingError) as info:
            one(Field(broken))
        assert "KeyError" in str(info.value)
        assert "zoe.lefevre" not in str(info.value)
        assert isinstance(info.value.__cause__, KeyError)

    def test_callable_name_shown(self) -> None:
        assert str(Computed(len, name="length")) == "python length"  # type: ignore[arg-type]


class TestTransforms:
    """Built-in transforms, chaining, and user callables."""

    def test_text_transforms(self) -> None:
        assert one(Field("extendedData.e_site", transforms=(strip, upper))) == "PARIS 11"
        assert one(Field("last_name", transforms=(lower,))) == "lefèvre-đặng"
        assert one(Field(Constant("JEAN-PIERRE o'neil"), transforms=(title,))) == (
            "Jean-Pierre O'Neil"
        )

    def test_normalize_diacritics_folds_ligatures(self) -> None:
        field = Field(Constant("Zoé Œuvray-Łukasz Straße Đặng"), transforms=(normalize_diacritics,))
        assert one(field) == "Zoe OEuvray-Lukasz Strasse Dang"

    def test_truncate_after_strip(self) -> None:
        assert one(Field("extendedData.e_site", transforms=(strip, truncate(5)))) == "Paris"

    def test_regex_replace(self) -> None:
        field = Field("employee_number", transforms=(regex_replace(r"^0+", ""),))
        assert one(field) == "57"
        groups = Field(
            "contract_start", transforms=(regex_replace(r"(\d+)-(\d+)-(\d+)", r"\3.\2.\1"),)
        )
        assert one(groups) == "01.09.2014"

    @pytest.mark.parametrize(
        "value",
        [date(2014, 9, 1), datetime(2014, 9, 1, 8, 30), "2014-09-01T00:00:00", "2014-09-01"],
    )
    def test_date_format_accepts_dates_and_iso_text(self, value: date | str) -> None:
        assert one(Field(Constant(value), transforms=(date_format("%d/%m/%Y"),))) == "01/09/2014"

    def test_date_format_on_non_date_text_is_a_mapping_error(self) -> None:
        with pytest.raises(
            MappingError, match=r"transform date_format\('%d/%m/%Y'\) is not an ISO"
        ):
            one(Field("job_title", transforms=(date_format("%d/%m/%Y"),)))

    def test_text_transform_on_a_number(self) -> None:
        assert one(Field("department.id", transforms=(truncate(1),))) == "1"

    def test_text_transform_on_a_list_is_a_mapping_error(self) -> None:
        with pytest.raises(MappingError, match=r"transform upper is a list"):
            one(Field("extendedData.e_langs", transforms=(upper,)))

    def test_user_transform_can_turn_a_list_into_text(self) -> None:
        def join(value: object) -> object:
            assert isinstance(value, list)
            return ",".join(str(item) for item in value)

        assert one(Field("extendedData.e_langs", transforms=(join, upper))) == "FR,EN"

    def test_transforms_are_skipped_for_missing_values(self) -> None:
        def explode(value: object) -> object:
            raise AssertionError("called")

        assert one(Field("job_title", transforms=(explode,)), make_employee(job_title=None)) is None

    def test_user_transform_raising_is_wrapped(self) -> None:
        def explode(value: object) -> object:
            raise ValueError("Zoé")

        with pytest.raises(MappingError, match="raised ValueError") as info:
            one(Field("first_name", transforms=(explode,)))
        assert "Zoé" not in str(info.value)

    @pytest.mark.parametrize(
        ("build", "message"),
        [
            (lambda: truncate(0), "positive integer"),
            (lambda: truncate(True), "positive integer"),
            (lambda: date_format(""), "non-empty"),
            (lambda: regex_replace("(", "x"), "invalid pattern"),
            (lambda: regex_replace("(a)", r"\2"), "invalid pattern or replacement"),
        ],
    )
    def test_bad_arguments_rejected(self, build: Any, message: str) -> None:
        with pytest.raises(ConfigurationError, match=message):
            build()

    def test_non_callable_transform_rejected(self) -> None:
        with pytest.raises(ConfigurationError, match="must be callable"):
            Field("first_name", transforms=("strip",))  # type: ignore[arg-type]


class TestEmptyPolicy:
    """Empty values: leave (absent), clear (None) or default, inside map()."""

    def test_leave_omits_the_key(self) -> None:
        record = FieldMapping({"job_title": Field("job_title", on_empty="leave")}).map(
            make_employee(job_title=None)
        )
        assert "job_title" not in record

    def test_clear_maps_to_none(self) -> None:
        record = FieldMapping({"job_title": Field("job_title", on_empty="clear")}).map(
            make_employee(job_title="")
        )
        assert record["job_title"] is None

    def test_default_value(self) -> None:
        field = Field("job_title", on_empty="default", default="Employee")
        assert one(field, make_employee(job_title=None)) == "Employee"
        assert one(field) == "Développeuse"

    def test_empty_after_transforms_counts_as_empty(self) -> None:
        field = Field(Constant("   "), transforms=(strip,), on_empty="default", default="n/a")
        assert one(field) == "n/a"

    def test_default_requires_policy_and_policy_requires_default(self) -> None:
        with pytest.raises(ConfigurationError, match="needs a default"):
            Field("job_title", on_empty="default")
        with pytest.raises(ConfigurationError, match="only used with"):
            Field("job_title", default="x")

    def test_unknown_options_rejected(self) -> None:
        with pytest.raises(ConfigurationError, match="on_empty must be one of"):
            Field("job_title", on_empty="skip")  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match="apply must be one of"):
            Field("job_title", apply="never")  # type: ignore[arg-type]


class TestApplyAndCustomFields:
    """create_only keys, custom_* fields and the Python building API."""

    def test_create_only_keys_listed_and_still_mapped(self) -> None:
        mapping = FieldMapping.elevo_default().with_field(
            "custom_hired_as", Field("job_title", apply="create_only")
        )
        assert mapping.create_only == {"custom_hired_as"}
        assert mapping.map(make_employee())["custom_hired_as"] == "Développeuse"

    def test_custom_field_from_extended_data(self) -> None:
        mapping = FieldMapping.elevo_default().with_field(
            "custom_site", Field("extendedData.e_site", transforms=(strip,))
        )
        record = mapping.map(make_employee())
        assert record["custom_site"] == "Paris 11"
        assert "custom_site" in mapping.target_keys

    def test_with_field_replaces_in_place(self) -> None:
        mapping = FieldMapping.elevo_default().with_field(
            "email", Coalesce(["email", Template("{login}@acme.example")])
        )
        record = mapping.map(make_employee(email=None))
        assert record["email"] == "zlefevre@acme.example"
        assert list(mapping.fields).index("email") == 2

    def test_without_removes_fields(self) -> None:
        mapping = FieldMapping.elevo_default().without("department", "job_title")
        record = mapping.map(make_employee())
        assert "department" not in record
        assert "job_title" not in record

    def test_without_unknown_key_rejected(self) -> None:
        with pytest.raises(ConfigurationError, match="'team_name'"):
            FieldMapping.elevo_default().without("team_name")

    @pytest.mark.parametrize("key", ["uniq_identifier", "manager_uniq_identifier", "", " email"])
    def test_fixed_or_malformed_keys_rejected(self, key: str) -> None:
        with pytest.raises(ConfigurationError, match="target key"):
            FieldMapping.elevo_default().with_field(key, "login")

    def test_mappings_are_frozen_values(self) -> None:
        assert FieldMapping.elevo_default() == FieldMapping.elevo_default()
        with pytest.raises(TypeError):
            FieldMapping.elevo_default().fields["x"] = Field("login")  # type: ignore[index]

    def test_check_against_a_sink(self) -> None:
        mapping = FieldMapping.elevo_default().with_field("custom_site", "extendedData.e_site")
        mapping.check(lambda key: True)
        with pytest.raises(ConfigurationError) as info:
            mapping.check(lambda key: not key.startswith("custom_") and key != "department")
        assert info.value.problems == (
            "fields.department: the sink has no target key 'department'",
            "fields.custom_site: the sink has no target key 'custom_site'",
        )


class TestElevoConstraints:
    """Per-record validation of Elevo's constraints, without echoing personal data."""

    def test_invalid_email_names_field_not_value(self) -> None:
        with pytest.raises(InvalidValueError) as info:
            FieldMapping.elevo_default().map(make_employee(email="zoe at acme"))
        assert info.value.field == "email"
        assert info.value.employee_id == 416
        assert info.value.value == "zoe at acme"
        assert "zoe at acme" not in str(info.value)
        assert "not a valid e-mail address" in str(info.value)

    @pytest.mark.parametrize(
        "email", ["a@b", "@acme.example", "a@@acme.example", "a b@acme.example"]
    )
    def test_bad_email_syntax(self, email: str) -> None:
        with pytest.raises(InvalidValueError, match="e-mail"):
            FieldMapping.elevo_default().map(make_employee(email=email))

    def test_username_charset(self) -> None:
        mapping = FieldMapping({"username": Field("login")})
        assert mapping.map(make_employee(login="z.lefevre_2-x"))["username"] == "z.lefevre_2-x"
        with pytest.raises(InvalidValueError, match="may only contain") as info:
            mapping.map(make_employee(login="zoé"))
        assert info.value.field == "username"

    def test_work_start_date_format(self) -> None:
        mapping = FieldMapping(
            {"work_start_date": Field("contract_start", transforms=(date_format("%d/%m/%Y"),))}
        )
        with pytest.raises(InvalidValueError, match="YYYY-MM-DD"):
            mapping.map(make_employee())

    @pytest.mark.parametrize(
        ("ratio", "ok"), [(80.0, True), (100, True), (0, True), (100.5, False), (-1, False)]
    )
    def test_working_time_ratio_range(self, ratio: float, ok: bool) -> None:
        mapping = FieldMapping({"working_time_ratio": Field(Constant(ratio))})
        if ok:
            assert mapping.map(make_employee())["working_time_ratio"] == str(ratio).removesuffix(
                ".0"
            )
        else:
            with pytest.raises(InvalidValueError, match="0 to 100"):
                mapping.map(make_employee())

    def test_gender_values_via_lookup(self) -> None:
        gender = Lookup("gender", {"Female": "f", "Male": "m"})
        assert FieldMapping({"gender": Field(gender)}).map(make_employee())["gender"] == "f"
        with pytest.raises(InvalidValueError, match="one of m, f, other"):
            FieldMapping({"gender": Field("gender")}).map(
                make_employee(raw={"gender": "Undefined"})
            )

    def test_email_or_username_required(self) -> None:
        with pytest.raises(MappingError, match="neither email nor username") as info:
            FieldMapping.elevo_default().map(make_employee(email=None))
        assert info.value.field == "email"
        mapping = FieldMapping.elevo_default().with_field("username", "login")
        record = mapping.map(make_employee(email=None))
        assert record["email"] is None
        assert record["username"] == "zlefevre"

    def test_no_login_check_when_neither_is_mapped(self) -> None:
        record = FieldMapping.elevo_default().without("email").map(make_employee(email=None))
        assert "email" not in record

    def test_default_value_is_checked_too(self) -> None:
        field = Field("email", on_empty="default", default="not-an-address")
        with pytest.raises(InvalidValueError):
            FieldMapping({"email": field}).map(make_employee(email=None))


class TestIsolation:
    """One employee's unmappable value fails that employee only."""

    def test_other_employees_still_map(self) -> None:
        mapping = FieldMapping.elevo_default().with_field("custom_langs", "extendedData.e_langs")
        bad = make_employee(id=1)
        good = make_employee(id=2, raw={"extendedData": {"e_langs": {"id": 1, "value": "fr"}}})
        records, errors = {}, {}
        for employee in (bad, good):
            try:
                records[employee.id] = mapping.map(employee)
            except MappingError as error:
                errors[employee.id] = error
        assert list(errors) == [1]
        assert errors[1].field == "custom_langs"
        assert records[2]["custom_langs"] == "fr"

    def test_first_failing_field_in_order_is_raised(self) -> None:
        mapping = FieldMapping({"custom_a": "extendedData.e_langs", "email": Field(Constant("x"))})
        with pytest.raises(MappingError) as info:
            mapping.map(make_employee())
        assert info.value.field == "custom_a"


class TestExplain:
    """explain() tells, per key, source, transforms, policy, value and error."""

    def test_explains_every_key_in_record_order(self) -> None:
        mapping = FieldMapping.elevo_default().with_field(
            "custom_site",
            Field("extendedData.e_site", transforms=(strip, truncate(50)), apply="create_only"),
        )
        explanations = mapping.explain(make_employee())
        assert [e.key for e in explanations] == list(mapping.map(make_employee()))
        site = next(e for e in explanations if e.key == "custom_site")
        assert site.source == "extendedData.e_site"
        assert site.transforms == ("strip", "truncate(50)")
        assert site.apply == "create_only"
        assert site.on_empty == "clear"
        assert site.value == "Paris 11"
        assert site.present
        assert not site.empty
        assert site.error is None
        assert explanations[0].source == "id"
        assert explanations[-1].source == "manager_id"

    def test_explain_reports_errors_instead_of_raising(self) -> None:
        mapping = FieldMapping.elevo_default().with_field("custom_langs", "extendedData.e_langs")
        explanations = {e.key: e for e in mapping.explain(make_employee(email="nope"))}
        assert explanations["email"].error is not None
        assert "valid e-mail" in explanations["email"].error
        assert explanations["custom_langs"].error is not None
        assert not explanations["custom_langs"].present
        assert explanations["first_name"].value == "Zoé"

    def test_explain_shows_empty_policies(self) -> None:
        mapping = FieldMapping({"job_title": Field("job_title", on_empty="leave")})
        [_, job, _] = mapping.explain(make_employee(job_title=None))
        assert job.empty
        assert not job.present
        assert job.on_empty == "leave"

    def test_descriptions_of_sources(self) -> None:
        mapping = FieldMapping(
            {
                "a": Coalesce(["email", Constant("x")]),
                "b": Template("{first_name}"),
                "c": Lookup("gender", {"Male": "m"}, default="other"),
            }
        )
        sources = {e.key: e.source for e in mapping.explain(make_employee())}
        assert sources["a"] == "coalesce(email, constant 'x')"
        assert sources["b"] == "template '{first_name}'"
        assert sources["c"] == "lookup(gender, 1 entry, default 'other')"

    def test_repr_hides_the_value(self) -> None:
        [_, first, *_] = FieldMapping.elevo_default().explain(make_employee())
        assert "Zoé" not in repr(first)
        assert first.value == "Zoé"
