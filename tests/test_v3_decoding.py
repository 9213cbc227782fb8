"""Decoding Lucca v3 users (no HTTP): wire quirks, types, and decode errors with paths."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lucca_sync import Employee, Ref
from lucca_sync._lucca._v3 import USER_FIELDS, V3Decoder, unwrap
from lucca_sync.exceptions import ResponseDecodeError

URL = "https://acme.ilucca.net/api/v3/users"
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def decoder() -> V3Decoder:
    return V3Decoder(PARIS)


def wire_user(**fields: object) -> dict[str, object]:
    """A v3 user as Lucca's documentation shows it (§4.2 of the reference)."""
    user: dict[str, object] = {
        "id": 416,
        "name": "John Doe",
        "url": "https://acme.ilucca.net/api/v3/users/416",
        "firstName": "John",
        "lastName": "DOE",
        "mail": "jdoe@acme.example",
        "login": "jdoe",
        "employeeNumber": "00057",
        "jobTitle": "Developer",
        "dtContractStart": "2014-09-01T00:00:00",
        "dtContractEnd": None,
        "modifiedAt": "2015-09-07T10:20:06.583",
        "department": {"id": 13, "name": "BU Timmi", "url": "https://x/api/v3/departments/13"},
        "legalEntity": {"id": 1, "name": "Acme Paris", "url": "https://x/api/v3/legalEntities/1"},
        "manager": {"id": 383, "name": "Roger Smith", "url": "https://x/api/v3/users/383"},
        "extendedData": {"e_skip_elevo_sync": {"id": 9001, "value": True}},
    }
    user.update(fields)
    return user


def decode_error(decoder: V3Decoder, user: object) -> ResponseDecodeError:
    with pytest.raises(ResponseDecodeError) as caught:
        decoder.employee(user, url=URL, path="data.items[3]")
    return caught.value


class TestProjection:
    """The fields= projection asks for everything Employee needs."""

    def test_projection_is_the_reference_recommendation(self) -> None:
        # lucca.md §4.7, "The request the library sends".
        recommended = (
            "id,name,firstName,lastName,mail,login,employeeNumber,jobTitle,"
            "dtContractStart,dtContractEnd,modifiedAt,"
            "department[id,name],legalEntity[id,name],manager[id,name],extendedData"
        )
        assert recommended == USER_FIELDS


class TestDocumentedUser:
    """The documented example user decodes to the expected typed Employee."""

    def test_every_attribute_has_its_type(self, decoder: V3Decoder) -> None:
        employee = decoder.employee(wire_user(), url=URL, path="data.items[0]")
        assert employee == Employee(
            id=416,
            first_name="John",
            last_name="DOE",
            email="jdoe@acme.example",
            login="jdoe",
            employee_number="00057",
            job_title="Developer",
            manager_id=383,
            department=Ref(13, "BU Timmi"),
            legal_entity=Ref(1, "Acme Paris"),
            contract_start=date(2014, 9, 1),
            contract_end=None,
            modified_at=datetime(2015, 9, 7, 10, 20, 6, 583000),
            extended_data={"e_skip_elevo_sync": True},
        )

    def test_raw_keeps_the_json_as_received(self, decoder: V3Decoder) -> None:
        user = wire_user(displayName="DOE John")
        employee = decoder.employee(user, url=URL, path="data.items[0]")
        assert employee.raw["displayName"] == "DOE John"
        assert employee.raw["manager"] == user["manager"]

    def test_nulls_and_absent_optional_fields_become_none(self, decoder: V3Decoder) -> None:
        user = wire_user(mail=None, login=None, department=None, manager=None, legalEntity=None)
        del user["jobTitle"], user["dtContractStart"], user["modifiedAt"], user["extendedData"]
        employee = decoder.employee(user, url=URL, path="data.items[0]")
        assert (employee.email, employee.login, employee.job_title) == (None, None, None)
        assert (employee.department, employee.legal_entity, employee.manager_id) == (
            None,
            None,
            None,
        )
        assert (employee.contract_start, employee.modified_at) == (None, None)
        assert employee.extended_data == {}

    def test_accented_names_are_kept_verbatim(self, decoder: V3Decoder) -> None:
        employee = decoder.employee(
            wire_user(firstName="Zoé", lastName="N'Diaye-Lefèvre"), url=URL, path="x"
        )
        assert (employee.first_name, employee.last_name) == ("Zoé", "N'Diaye-Lefèvre")


class TestDates:
    """Naive ISO date-times, with or without fraction, Z or offset, and bare dates."""

    @pytest.mark.parametrize(
        ("wire", "expected"),
        [
            ("2015-09-07T10:20:06", datetime(2015, 9, 7, 10, 20, 6)),
            ("2015-09-07T10:20:06.583", datetime(2015, 9, 7, 10, 20, 6, 583000)),
            ("2015-09-07T10:20:06.5833333", datetime(2015, 9, 7, 10, 20, 6, 583333)),
            ("2015-09-07", datetime(2015, 9, 7)),
            # Explicit offsets are converted to the tenant's local time (Paris: UTC+2 in summer).
            ("2015-09-07T08:20:06Z", datetime(2015, 9, 7, 10, 20, 6)),
            ("2015-09-07T10:20:06+02:00", datetime(2015, 9, 7, 10, 20, 6)),
        ],
    )
    def test_modified_at_forms(self, decoder: V3Decoder, wire: str, expected: datetime) -> None:
        employee = decoder.employee(wire_user(modifiedAt=wire), url=URL, path="x")
        assert employee.modified_at == expected
        assert employee.modified_at is not None
        assert employee.modified_at.tzinfo is None

    @pytest.mark.parametrize(
        "wire", ["2024-03-01T00:00:00", "2024-03-01", "2024-03-01T00:00:00.000"]
    )
    def test_contract_dates_keep_the_date_part(self, decoder: V3Decoder, wire: str) -> None:
        employee = decoder.employee(
            wire_user(dtContractStart=wire, dtContractEnd=wire), url=URL, path="x"
        )
        assert employee.contract_start == employee.contract_end == date(2024, 3, 1)


class TestQuirks:
    """Each v3 naming quirk of the reference (§5.2) reads the same."""

    @pytest.mark.parametrize("key", ["managerId", "managerID", "ManagerId"])
    def test_flat_manager_key_any_case(self, decoder: V3Decoder, key: str) -> None:
        user = wire_user(**{key: 77})
        del user["manager"]
        assert decoder.employee(user, url=URL, path="x").manager_id == 77

    def test_nested_manager_wins_over_the_flat_key(self, decoder: V3Decoder) -> None:
        user = wire_user(managerId=77)
        assert decoder.employee(user, url=URL, path="x").manager_id == 383

    def test_null_manager_means_no_manager(self, decoder: V3Decoder) -> None:
        user = wire_user(manager=None, managerId=None)
        assert decoder.employee(user, url=URL, path="x").manager_id is None

    def test_modified_on_is_read_like_modified_at(self, decoder: V3Decoder) -> None:
        user = wire_user(modifiedOn="2020-02-03T04:05:06")
        del user["modifiedAt"]
        employee = decoder.employee(user, url=URL, path="x")
        assert employee.modified_at == datetime(2020, 2, 3, 4, 5, 6)


class TestExtendedData:
    """Custom fields lose their {id, value} wrappers; unset values are left out."""

    @pytest.mark.parametrize(
        ("wire", "expected"),
        [
            ({"id": 1, "value": True}, True),
            ({"id": 1, "value": "true"}, "true"),
            (True, True),
            ("AB", "AB"),
            ({"id": 1, "value": 84}, 84),
            ([{"id": 1, "value": "a"}, {"id": 2, "value": "b"}], ["a", "b"]),
            (["a", {"id": 2, "value": None}], ["a"]),
            (
                {"id": 5, "value": {"e_sub1": {"value": 1}, "e_sub2": {"id": 7, "value": "x"}}},
                {"e_sub1": 1, "e_sub2": "x"},
            ),
            ({"id": 1, "value": {"id": 2, "value": "nested"}}, "nested"),
        ],
    )
    def test_values_are_unwrapped(self, decoder: V3Decoder, wire: object, expected: object) -> None:
        employee = decoder.employee(wire_user(extendedData={"e_x": wire}), url=URL, path="x")
        assert employee.extended_data == {"e_x": expected}

    @pytest.mark.parametrize("unset", [None, {"id": 1, "value": None}, [], [{"value": None}]])
    def test_unset_values_are_absent(self, decoder: V3Decoder, unset: object) -> None:
        user = wire_user(extendedData={"e_x": unset, "e_y": {"id": 2, "value": "kept"}})
        assert decoder.employee(user, url=URL, path="x").extended_data == {"e_y": "kept"}

    def test_null_extended_data_is_empty(self, decoder: V3Decoder) -> None:
        user = wire_user(extendedData=None)
        assert decoder.employee(user, url=URL, path="x").extended_data == {}

    def test_unwrap_keeps_false_and_zero(self) -> None:
        assert unwrap({"value": False}) is False
        assert unwrap({"value": 0}) == 0


class TestEnvelopes:
    """data.items, bare items and the single-user data object; header ignored."""

    def test_full_envelope(self, decoder: V3Decoder) -> None:
        body = {"header": {"generated": "x", "principal": "p"}, "data": {"items": [wire_user()]}}
        assert decoder.items(body, url=URL) == ("data.items", [wire_user()])

    def test_bare_items(self, decoder: V3Decoder) -> None:
        assert decoder.items({"items": []}, url=URL) == ("items", [])

    def test_single_user_data_object(self, decoder: V3Decoder) -> None:
        body = {"header": {}, "data": wire_user(id=9)}
        assert decoder.single(body, url=URL).id == 9

    @pytest.mark.parametrize(
        ("body", "path"),
        [
            ([], "data.items"),
            ({"data": None}, "data"),
            ({"data": {"count": 3}}, "data.items"),
            ({"data": {"items": {"0": {}}}}, "data.items"),
            ({"header": {}}, "data.items"),
            ("<html>", "data.items"),
        ],
    )
    def test_unexpected_envelope_is_a_decode_error(
        self, decoder: V3Decoder, body: object, path: str
    ) -> None:
        with pytest.raises(ResponseDecodeError) as caught:
            decoder.items(body, url=URL)
        assert caught.value.path == path
        assert caught.value.url == URL

    def test_single_without_a_user_is_a_decode_error(self, decoder: V3Decoder) -> None:
        with pytest.raises(ResponseDecodeError, match="data"):
            decoder.single({"data": []}, url=URL)


class TestDecodeErrors:
    """A malformed user names the JSON path and the user id, and no personal data."""

    @pytest.mark.parametrize(
        ("change", "path"),
        [
            ({"dtContractStart": "01/09/2014"}, "data.items[3].dtContractStart"),
            ({"dtContractEnd": 20140901}, "data.items[3].dtContractEnd"),
            ({"modifiedAt": "yesterday"}, "data.items[3].modifiedAt"),
            ({"firstName": None}, "data.items[3].firstName"),
            ({"mail": ["a@b.c"]}, "data.items[3].mail"),
            ({"employeeNumber": 57}, "data.items[3].employeeNumber"),
            ({"department": {"id": "13", "name": "x"}}, "data.items[3].department.id"),
            ({"legalEntity": {"id": 1}}, "data.items[3].legalEntity.name"),
            ({"manager": {"id": 1.5}}, "data.items[3].manager.id"),
            ({"manager": "Roger"}, "data.items[3].manager"),
            ({"extendedData": ["e_x"]}, "data.items[3].extendedData"),
        ],
    )
    def test_path_and_id(self, decoder: V3Decoder, change: dict[str, object], path: str) -> None:
        error = decode_error(decoder, wire_user(**change))
        assert error.path == path
        assert error.employee_id == 416
        assert path in str(error)
        assert "416" in str(error)

    def test_missing_required_name(self, decoder: V3Decoder) -> None:
        user = wire_user()
        del user["lastName"]
        error = decode_error(decoder, user)
        assert error.path == "data.items[3].lastName"
        assert "missing" in str(error)

    @pytest.mark.parametrize("bad_id", ["416", None, True, 4.16])
    def test_unreadable_id_has_no_employee_id(self, decoder: V3Decoder, bad_id: object) -> None:
        error = decode_error(decoder, wire_user(id=bad_id))
        assert error.employee_id is None
        assert error.path == "data.items[3].id"

    def test_a_non_object_user(self, decoder: V3Decoder) -> None:
        error = decode_error(decoder, "John Doe")
        assert error.path == "data.items[3]"
        assert "John" not in str(error)

    def test_message_quotes_no_wire_value(self, decoder: V3Decoder) -> None:
        error = decode_error(decoder, wire_user(dtContractStart="born 1990-04-12 in Lyon"))
        assert "Lyon" not in str(error)
        assert "1990" not in str(error)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
user_keys = st.sampled_from(
    [
        "id", "firstName", "lastName", "mail", "login", "employeeNumber", "jobTitle",
        "dtContractStart", "dtContractEnd", "modifiedAt", "modifiedOn", "department",
        "legalEntity", "manager", "managerId", "managerID", "extendedData",
    ]
)  # fmt: skip


class TestAnyJson:
    """Whatever JSON comes in, only lucca_sync errors come out."""

    @given(body=json_values)
    def test_pages(self, body: object) -> None:
        decoder = V3Decoder(PARIS)
        problems: list[tuple[str, ResponseDecodeError]] = []
        try:
            _, items = decoder.items(body, url=URL)
        except ResponseDecodeError as error:
            problems.append(("", error))
            items = []
        for index, item in enumerate(items):
            path = f"data.items[{index}]"
            try:
                employee = decoder.employee(item, url=URL, path=path)
            except ResponseDecodeError as error:
                problems.append((path, error))
            else:
                assert isinstance(employee.id, int)
        for path, problem in problems:
            assert problem.url == URL
            assert (problem.path or "").startswith(path)

    @given(changes=st.dictionaries(user_keys, json_values, max_size=5))
    def test_users_with_random_values(self, changes: dict[str, object]) -> None:
        decoder = V3Decoder(PARIS)
        user = wire_user(**changes)
        try:
            employee = decoder.employee(user, url=URL, path="data.items[0]")
        except ResponseDecodeError as error:
            problem: ResponseDecodeError | None = error
        else:
            problem = None
            assert isinstance(employee.id, int)
            assert isinstance(employee.first_name, str)
        if problem is not None:
            assert problem.path is not None
            assert problem.path.startswith("data.items[0]")

    @given(body=json_values)
    def test_single(self, body: object) -> None:
        problem: ResponseDecodeError | None = None
        try:
            employee = V3Decoder(PARIS).single(body, url=URL)
        except ResponseDecodeError as error:
            problem = error
        else:
            assert isinstance(employee.id, int)
        assert problem is None or problem.url == URL
