"""make_lucca_user builds v3 wire users as lucca.md §5 and §6 describe them."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Any, cast

import pytest

from lucca_sync.testing import make_lucca_user

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T00:00:00$")
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}$")
CAMEL = re.compile(r"^[a-z][A-Za-z]*$")


class TestDefaults:
    """Without arguments the user is complete and realistic."""

    def test_keys_are_camel_case_and_json_serialisable(self) -> None:
        user = make_lucca_user()
        assert all(CAMEL.match(key) for key in user)
        assert json.loads(json.dumps(user)) == user

    def test_has_every_field_the_reader_asks_for(self) -> None:
        user = make_lucca_user()
        expected = {
            "id", "name", "url", "firstName", "lastName", "mail", "login", "employeeNumber",
            "jobTitle", "dtContractStart", "dtContractEnd", "modifiedAt", "department",
            "legalEntity", "manager", "managerId", "extendedData",
        }  # fmt: skip
        assert expected <= user.keys()

    def test_wire_formats(self) -> None:
        user = make_lucca_user()
        assert isinstance(user["id"], int)
        assert DATE.match(str(user["dtContractStart"]))
        assert STAMP.match(str(user["modifiedAt"]))
        assert user["url"] == f"https://acme.ilucca.net/api/v3/users/{user['id']}"
        department = user["department"]
        assert isinstance(department, dict)
        assert set(department) == {"id", "name", "url"}
        assert isinstance(user["employeeNumber"], str)

    def test_ids_are_unique(self) -> None:
        assert len({make_lucca_user()["id"] for _ in range(50)}) == 50

    def test_names_are_consistent(self) -> None:
        user = make_lucca_user(firstName="Jean-Édouard", lastName="N'Diaye")
        assert user["name"] == "Jean-Édouard N'Diaye"
        assert user["displayName"] == "N'Diaye Jean-Édouard"
        assert user["mail"] == "jean-edouard.ndiaye@acme.example"


class TestOverrides:
    """Any wire field can be overridden; dates and references have conveniences."""

    def test_any_field(self) -> None:
        user = make_lucca_user(id=416, mail=None, jobTitle="Développeuse", gender="Female")
        assert (user["id"], user["mail"], user["jobTitle"]) == (416, None, "Développeuse")
        assert user["gender"] == "Female"

    def test_dates_and_timestamps(self) -> None:
        user = make_lucca_user(
            dtContractStart=date(2014, 9, 1),
            dtContractEnd=date(2025, 1, 31),
            modifiedAt=datetime(2025, 1, 2, 10, 20, 6, 583000),
        )
        assert user["dtContractStart"] == "2014-09-01T00:00:00"
        assert user["dtContractEnd"] == "2025-01-31T00:00:00"
        assert user["modifiedAt"] == "2025-01-02T10:20:06.583"

    def test_manager_by_id_fills_the_flat_key(self) -> None:
        user = make_lucca_user(manager=383)
        manager = user["manager"]
        assert isinstance(manager, dict)
        assert manager["id"] == 383
        assert manager["url"] == "https://acme.ilucca.net/api/v3/users/383"
        assert user["managerId"] == 383

    @pytest.mark.parametrize("key", ["managerId", "managerID"])
    def test_manager_key_quirk(self, key: str) -> None:
        user = make_lucca_user(manager=7, manager_key=key)  # type: ignore[arg-type]
        assert user[key] == 7
        assert {"managerId", "managerID"} - {key} & user.keys() == set()

    @pytest.mark.parametrize("key", ["managerId", "managerID"])
    def test_flat_manager_id_alone_fills_the_reference(self, key: str) -> None:
        """Clients read ``manager.id`` first: a flat id must not sit beside a null reference."""
        user = make_lucca_user(**{key: 41})  # type: ignore[arg-type]
        manager = user["manager"]
        assert isinstance(manager, dict)
        assert manager["id"] == 41
        assert user[key] == 41
        assert {"managerId", "managerID"} - {key} & user.keys() == set()

    def test_modified_on_quirk(self) -> None:
        user = make_lucca_user(modified_key="modifiedOn")
        assert "modifiedAt" not in user
        assert STAMP.match(str(user["modifiedOn"]))

    def test_base_url(self) -> None:
        user = make_lucca_user(id=3, base_url="https://acme.ilucca-test.ch")
        assert user["url"] == "https://acme.ilucca-test.ch/api/v3/users/3"


class TestSkipFlag:
    """Each observed check-box shape (§6.2) and each unset form can be produced."""

    @pytest.mark.parametrize(
        ("style", "ticked", "value"),
        [
            ("object-bool", True, True),
            ("object-bool", False, False),
            ("object-string", True, "true"),
            ("object-string", False, "false"),
        ],
    )
    def test_object_styles(self, style: str, ticked: bool, value: object) -> None:
        user = make_lucca_user(skip_flag=ticked, flag_style=style)  # type: ignore[arg-type]
        entry = user["extendedData"]["e_skip_elevo_sync"]
        assert entry["value"] == value
        assert isinstance(entry["id"], int)

    @pytest.mark.parametrize(("style", "value"), [("bare-bool", True), ("bare-string", "true")])
    def test_bare_styles(self, style: str, value: object) -> None:
        user = make_lucca_user(skip_flag=True, flag_style=style)  # type: ignore[arg-type]
        assert user["extendedData"] == {"e_skip_elevo_sync": value}

    def test_unset_absent_by_default(self) -> None:
        assert make_lucca_user()["extendedData"] == {}

    def test_unset_null(self) -> None:
        user = make_lucca_user(flag_unset="null")
        assert user["extendedData"] == {"e_skip_elevo_sync": None}

    def test_unset_object_null(self) -> None:
        entry = make_lucca_user(flag_unset="object-null")["extendedData"]["e_skip_elevo_sync"]
        assert entry["value"] is None

    def test_custom_code_and_other_extended_data_kept(self) -> None:
        user = make_lucca_user(
            skip_flag=True,
            flag_code="skip_elevo_sync",
            extendedData={"e_github_login": {"id": 15847, "value": "shipit"}},
        )
        extended = cast("dict[str, Any]", user["extendedData"])
        assert set(extended) == {"e_github_login", "skip_elevo_sync"}
        assert extended["e_github_login"] == {"id": 15847, "value": "shipit"}
        assert extended["skip_elevo_sync"]["value"] is True


class TestFieldNames:
    """A misspelt field is refused; a property make_lucca_user does not know goes in extra=."""

    def test_a_misspelt_field_raises_and_names_the_right_one(self) -> None:
        with pytest.raises(
            TypeError, match=r"unknown Lucca v3 user field 'mial' \(did you mean 'mail'\?\)"
        ):
            make_lucca_user(mial="zoe@acme.example")

    def test_the_message_says_how_to_add_an_unknown_property(self) -> None:
        with pytest.raises(TypeError, match=r"extra=\{'profile_figgo': \.\.\.\}"):
            make_lucca_user(profile_figgo={"id": 3})

    def test_extra_adds_properties_verbatim(self) -> None:
        user = make_lucca_user(
            id=5, extra={"profile_figgo": {"id": 3}, "hireDate": date(2020, 1, 2)}
        )
        assert user["profile_figgo"] == {"id": 3}
        assert user["hireDate"] == date(2020, 1, 2)  # not converted: extra is as given
        assert user["id"] == 5

    def test_a_known_field_in_extra_is_refused(self) -> None:
        with pytest.raises(TypeError, match=r"pass it as mail=\.\.\., not in extra="):
            make_lucca_user(extra={"mail": "zoe@acme.example"})

    def test_documented_fields_are_accepted_by_name(self) -> None:
        user = make_lucca_user(gender="Female", calendarId=4, modifiedOn="2024-11-05T14:31:07.412")
        assert (user["gender"], user["calendarId"]) == ("Female", 4)

    @pytest.mark.parametrize(
        ("option", "typo"),
        [
            ("flag_style", "bare-bol"),
            ("flag_unset", "nul"),
            ("manager_key", "managerid"),
            ("modified_key", "modified"),
        ],
    )
    def test_a_misspelt_choice_raises(self, option: str, typo: str) -> None:
        with pytest.raises(ValueError, match=rf"{option} must be one of .*not '{typo}'"):
            make_lucca_user(**cast(Any, {option: typo}))
