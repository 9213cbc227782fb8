"""FakeLucca serves /api/v3/users as the Lucca reference describes (lucca.md §4, §5, §12, §13)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any
from urllib.parse import urlencode

import pytest
import urllib3

from lucca_sync.testing import FakeLucca, make_lucca_user

TODAY = date(2025, 3, 15)


@pytest.fixture
def http() -> Iterator[urllib3.PoolManager]:
    with urllib3.PoolManager(retries=False, timeout=5.0) as pool:
        yield pool


def call(
    http: urllib3.PoolManager,
    fake: FakeLucca,
    path: str,
    params: dict[str, str] | list[tuple[str, str]] | None = None,
    *,
    key: str | None = None,
    scheme: str = "lucca",
) -> tuple[int, Any]:
    """GET ``path`` with the fake's key; returns the status and the decoded JSON body."""
    url = fake.url + path + ("?" + urlencode(params) if params else "")
    headers = {"Authorization": f"{scheme} application={key or fake.api_key}"}
    response = http.request("GET", url, headers=headers)
    return response.status, json.loads(response.data) if response.data else None


def items(http: urllib3.PoolManager, fake: FakeLucca, **params: str) -> list[dict[str, Any]]:
    """The items of a 200 list answer."""
    status, body = call(http, fake, "/api/v3/users", params)
    assert status == 200, body
    result: list[dict[str, Any]] = body["data"]["items"]
    return result


def ids(http: urllib3.PoolManager, fake: FakeLucca, **params: str) -> list[int]:
    return [item["id"] for item in items(http, fake, **params)]


@pytest.fixture
def staff() -> list[dict[str, object]]:
    """Five people: a CEO, two reports, a leaver and a future hire (relative to TODAY)."""
    ceo = make_lucca_user(
        id=1, firstName="Hélène", lastName="Le Gall", mail="helene.legall@acme.example",
        login="hlegall", dtContractStart=date(2010, 1, 4),
        modifiedAt="2024-01-10T09:00:00.125",
        extendedData={"e_skip_elevo_sync": {"id": 9001, "value": True},
                      "e_cost_center": {"id": 9002, "value": "CC-10"}},
    )  # fmt: skip
    zoe = make_lucca_user(
        id=2, firstName="Zoé", lastName="N'Diaye", mail="zoe.ndiaye@acme.example",
        login="zndiaye", manager=1, dtContractStart=date(2020, 6, 1),
        dtContractEnd=date(2025, 3, 15), modifiedAt="2025-02-01T08:45:23.000",
    )  # fmt: skip
    jean = make_lucca_user(
        id=3, firstName="Jean-Édouard", lastName="Dupont", mail=None, login="jedupont",
        manager=1, dtContractStart=date(2018, 2, 1), modifiedAt="2025-03-01T17:00:00.999",
    )  # fmt: skip
    leaver = make_lucca_user(
        id=4, firstName="Agnès", lastName="Moreau", mail="agnes.moreau@acme.example",
        login="amoreau", manager=1, dtContractStart=date(2015, 1, 5),
        dtContractEnd=date(2025, 3, 14), modifiedAt="2025-03-14T18:00:00.000",
    )  # fmt: skip
    future = make_lucca_user(
        id=5, firstName="Loïc", lastName="Benali", mail="loic.benali@acme.example",
        login="lbenali", manager=3, dtContractStart=date(2025, 4, 1),
        modifiedAt="2025-03-10T10:10:10.010",
    )  # fmt: skip
    return [ceo, zoe, jean, leaver, future]


@pytest.fixture
def fake(staff: list[dict[str, object]]) -> Iterator[FakeLucca]:
    with FakeLucca(staff, today=TODAY) as server:
        yield server


class TestLifecycle:
    """The server runs on the loopback interface while open, and only then."""

    def test_url_is_loopback_with_a_port(self, fake: FakeLucca) -> None:
        assert fake.url.startswith("http://127.0.0.1:")
        assert int(fake.url.rsplit(":", 1)[1]) > 0

    def test_url_before_start_is_an_error(self) -> None:
        with pytest.raises(RuntimeError, match="not started"):
            _ = FakeLucca().url

    def test_start_and_close_without_with_block(self, http: urllib3.PoolManager) -> None:
        server = FakeLucca([make_lucca_user(id=7)]).start()
        try:
            assert ids(http, server) == [7]
        finally:
            server.close()
        with pytest.raises(RuntimeError):
            _ = server.url

    def test_random_api_key_differs_per_instance(self) -> None:
        assert FakeLucca().api_key != FakeLucca().api_key
        assert len(FakeLucca().api_key) >= 16

    def test_given_api_key_is_used(self) -> None:
        assert FakeLucca(api_key="k-123").api_key == "k-123"


class TestAuthentication:
    """Only `lucca application=KEY` (scheme in any case) gets data; the rest is 401."""

    @pytest.mark.parametrize("scheme", ["lucca", "Lucca", "LUCCA"])
    def test_scheme_is_case_insensitive(
        self, http: urllib3.PoolManager, fake: FakeLucca, scheme: str
    ) -> None:
        status, _ = call(http, fake, "/api/v3/users", scheme=scheme)
        assert status == 200

    def test_wrong_key_is_401_with_a_message_and_no_key(
        self, http: urllib3.PoolManager, fake: FakeLucca
    ) -> None:
        status, body = call(http, fake, "/api/v3/users", key="not-the-key")
        assert status == 401
        assert body["Message"]
        assert fake.api_key not in json.dumps(body)

    def test_missing_header_is_401(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        response = http.request("GET", fake.url + "/api/v3/users")
        assert response.status == 401

    def test_bearer_scheme_is_401(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        headers = {"Authorization": f"Bearer {fake.api_key}"}
        response = http.request("GET", fake.url + "/api/v3/users", headers=headers)
        assert response.status == 401

    def test_single_user_needs_the_key_too(
        self, http: urllib3.PoolManager, fake: FakeLucca
    ) -> None:
        status, _ = call(http, fake, "/api/v3/users/1", key="nope")
        assert status == 401


class TestEnvelope:
    """`{header, data:{items}}` by default; `data` and bare `items` variants on request."""

    def test_full_envelope_by_default(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        _, body = call(http, fake, "/api/v3/users")
        assert set(body) == {"header", "data"}
        assert body["header"]["principal"] == "FakeLucca API key"
        assert date.fromisoformat(body["header"]["generated"][:10]) >= TODAY
        assert [item["id"] for item in body["data"]["items"]] == [1, 2, 3, 5]

    def test_data_envelope_has_no_header(
        self, http: urllib3.PoolManager, staff: list[dict[str, object]]
    ) -> None:
        with FakeLucca(staff, today=TODAY, envelope="data", principal="p") as server:
            _, body = call(http, server, "/api/v3/users", {"paging": "0,1"})
            _, single = call(http, server, "/api/v3/users/2")
        assert body == {
            "data": {"items": [{"id": 1, "name": "Hélène Le Gall", "url": staff[0]["url"]}]}
        }
        assert single == {"data": {"id": 2, "name": "Zoé N'Diaye", "url": staff[1]["url"]}}

    def test_items_envelope_is_bare(
        self, http: urllib3.PoolManager, staff: list[dict[str, object]]
    ) -> None:
        with FakeLucca(staff, today=TODAY, envelope="items") as server:
            _, body = call(http, server, "/api/v3/users", {"fields": "id"})
            _, single = call(http, server, "/api/v3/users/3", {"fields": "id,firstName"})
        assert body == {"items": [{"id": 1}, {"id": 2}, {"id": 3}, {"id": 5}]}
        assert single == {"id": 3, "firstName": "Jean-Édouard"}

    def test_single_user_full_envelope(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        status, body = call(http, fake, "/api/v3/users/3", {"fields": "id,mail"})
        assert status == 200
        assert set(body) == {"header", "data"}
        assert body["data"] == {"id": 3, "mail": None}

    def test_unknown_envelope_is_refused(self) -> None:
        with pytest.raises(ValueError, match="envelope"):
            FakeLucca(envelope="xml")  # type: ignore[arg-type]

    def test_body_is_utf8_json(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        response = http.request(
            "GET",
            fake.url + "/api/v3/users/2",
            headers={"Authorization": f"lucca application={fake.api_key}"},
        )
        assert response.headers["Content-Type"].startswith("application/json")
        assert "Zoé".encode() in response.data


class TestFieldsProjection:
    """The `fields` grammar of §4.3: default, nested, dotted, any case, refs, extendedData."""

    def test_default_projection_is_id_name_url(
        self, http: urllib3.PoolManager, fake: FakeLucca
    ) -> None:
        first = items(http, fake)[0]
        assert first == {
            "id": 1,
            "name": "Hélène Le Gall",
            "url": "https://acme.ilucca.net/api/v3/users/1",
        }

    def test_brackets_select_sub_fields(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        zoe = items(http, fake, fields="id,manager[id,name]", id="2")[0]
        assert zoe == {"id": 2, "manager": {"id": 1, "name": "Manager 1"}}

    def test_dotted_path_equals_brackets(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        dotted = items(http, fake, fields="id, manager.id, manager.name", id="2")
        bracketed = items(http, fake, fields="id,manager[id,name]", id="2")
        assert dotted == bracketed

    def test_names_match_in_any_case_and_come_back_camel_case(
        self, http: urllib3.PoolManager, fake: FakeLucca
    ) -> None:
        user = items(http, fake, fields="ID,dtcontractstart,FIRSTNAME,Department[ID]", id="3")[0]
        assert user == {
            "id": 3,
            "dtContractStart": "2018-02-01T00:00:00",
            "firstName": "Jean-Édouard",
            "department": {"id": 13},
        }

    def test_object_property_alone_gives_its_reference(
        self, http: urllib3.PoolManager, staff: list[dict[str, object]]
    ) -> None:
        staff[0]["department"] = {
            "id": 10, "name": "Direction", "url": "https://acme.ilucca.net/api/v3/departments/10",
            "code": "DG", "hierarchy": "/10/",
        }  # fmt: skip
        with FakeLucca(staff, today=TODAY) as server:
            user = items(http, server, fields="department,manager", id="1")[0]
        assert user == {
            "department": {
                "id": 10,
                "name": "Direction",
                "url": "https://acme.ilucca.net/api/v3/departments/10",
            },
            "manager": None,
        }

    def test_extended_data_whole(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        user = items(http, fake, fields="extendedData", id="1")[0]
        assert user == {
            "extendedData": {
                "e_skip_elevo_sync": {"id": 9001, "value": True},
                "e_cost_center": {"id": 9002, "value": "CC-10"},
            }
        }

    @pytest.mark.parametrize(
        "fields",
        ["extendedData.e_cost_center", "extendedData[e_cost_center]", "extendeddata.E_COST_CENTER"],
    )
    def test_one_extended_field(
        self, http: urllib3.PoolManager, fake: FakeLucca, fields: str
    ) -> None:
        user = items(http, fake, fields=fields, id="1")[0]
        assert user == {"extendedData": {"e_cost_center": {"id": 9002, "value": "CC-10"}}}

    def test_known_property_missing_on_the_user_is_null(
        self, http: urllib3.PoolManager, fake: FakeLucca
    ) -> None:
        assert items(http, fake, fields="id,gender", id="1") == [{"id": 1, "gender": None}]

    def test_count_only(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        _, body = call(http, fake, "/api/v3/users", {"fields": "collection.count"})
        assert body["data"] == {"count": 4}

    def test_count_with_items_counts_all_matches_not_the_page(
        self, http: urllib3.PoolManager, fake: FakeLucca
    ) -> None:
        params = {"fields": "id,collection.count", "paging": "1,2", "formerEmployees": "true"}
        _, body = call(http, fake, "/api/v3/users", params)
        assert body["data"] == {"items": [{"id": 2}, {"id": 3}], "count": 5}

    @pytest.mark.parametrize(
        "fields", ["id,manager[id", "id,,name", "manager[]", "id;name", "a..b"]
    )
    def test_malformed_fields_is_400(
        self, http: urllib3.PoolManager, fake: FakeLucca, fields: str
    ) -> None:
        status, body = call(http, fake, "/api/v3/users", {"fields": fields})
        assert status == 400
        assert "fields" in body["Message"]

    def test_unknown_property_is_400(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        status, _ = call(http, fake, "/api/v3/users", {"fields": "id,shoeSize"})
        assert status == 400


class TestPaging:
    """`paging=offset,limit`: default 0,1000, 400 outside 1..1000 or offset < 0."""

    def test_default_page_is_the_first_thousand(self, http: urllib3.PoolManager) -> None:
        users = [make_lucca_user(id=i) for i in range(1, 1002)]
        with FakeLucca(users, today=TODAY) as server:
            listed = ids(http, server, fields="id")
            rest = ids(http, server, fields="id", paging="1000,1000")
        assert listed == list(range(1, 1001))
        assert rest == [1001]

    def test_offset_and_limit_slice_the_ordered_list(
        self, http: urllib3.PoolManager, fake: FakeLucca
    ) -> None:
        assert ids(http, fake, paging="1,2") == [2, 3]
        assert ids(http, fake, paging="3,1000") == [5]

    def test_offset_past_the_end_is_an_empty_page(
        self, http: urllib3.PoolManager, fake: FakeLucca
    ) -> None:
        assert ids(http, fake, paging="50,10") == []

    @pytest.mark.parametrize("paging", ["0,0", "0,1001", "-1,10", "0", "a,b", "0,10,5", "0,-5"])
    def test_out_of_bounds_or_malformed_is_400(
        self, http: urllib3.PoolManager, fake: FakeLucca, paging: str
    ) -> None:
        status, body = call(http, fake, "/api/v3/users", {"paging": paging})
        assert status == 400
        assert "paging" in body["Message"]

    @pytest.mark.parametrize("paging", ["0,1", "0,1000"])
    def test_limit_bounds_are_inclusive(
        self, http: urllib3.PoolManager, fake: FakeLucca, paging: str
    ) -> None:
        status, _ = call(http, fake, "/api/v3/users", {"paging": paging})
        assert status == 200


class TestOrdering:
    """`orderBy=prop,asc|desc` pairs, case-insensitive; an odd number of parts is 400."""

    def test_default_order_is_id_ascending(
        self, http: urllib3.PoolManager, staff: list[dict[str, object]]
    ) -> None:
        with FakeLucca(reversed(staff), today=TODAY) as server:
            assert ids(http, server) == [1, 2, 3, 5]

    def test_descending(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        assert ids(http, fake, orderBy="id,desc") == [5, 3, 2, 1]

    def test_by_text_property_in_any_case(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        # Benali, Dupont, Le Gall, N'Diaye
        assert ids(http, fake, orderby="LASTNAME,ASC") == [5, 3, 1, 2]

    def test_several_keys(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        # managerId: 1 has none (null first), 2 and 3 report to 1, 5 to 3.
        assert ids(http, fake, orderBy="managerId,asc,id,desc") == [1, 3, 2, 5]

    def test_by_date(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        assert ids(http, fake, orderBy="dtContractStart,desc") == [5, 2, 3, 1]

    @pytest.mark.parametrize("order", ["id", "id,asc,lastName", "id,upwards", ",asc"])
    def test_malformed_is_400(self, http: urllib3.PoolManager, fake: FakeLucca, order: str) -> None:
        status, body = call(http, fake, "/api/v3/users", {"orderBy": order})
        assert status == 400
        assert "orderBy" in body["Message"]


class TestFormerAndUpcomingEmployees:
    """Leavers hidden unless asked; upcoming hires listed; rights switches hide them silently."""

    def test_leavers_hidden_by_default_and_last_day_still_listed(
        self, http: urllib3.PoolManager, fake: FakeLucca
    ) -> None:
        listed = ids(http, fake)
        assert 4 not in listed  # contract ended yesterday
        assert 2 in listed  # contract ends today
        assert 5 in listed  # upcoming hire

    def test_former_employees_true_adds_leavers(
        self, http: urllib3.PoolManager, fake: FakeLucca
    ) -> None:
        assert ids(http, fake, formerEmployees="true") == [1, 2, 3, 4, 5]

    def test_former_employees_false_is_the_default(
        self, http: urllib3.PoolManager, fake: FakeLucca
    ) -> None:
        assert ids(http, fake, formerEmployees="False") == [1, 2, 3, 5]

    def test_former_employees_must_be_a_boolean(
        self, http: urllib3.PoolManager, fake: FakeLucca
    ) -> None:
        status, _ = call(http, fake, "/api/v3/users", {"formerEmployees": "yes"})
        assert status == 400

    def test_notequal_null_lists_people_with_an_end_date(
        self, http: urllib3.PoolManager, fake: FakeLucca
    ) -> None:
        assert ids(http, fake, dtContractEnd="notequal,null") == [2, 4]

    def test_today_is_configurable(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        fake.today = date(2025, 3, 16)
        assert ids(http, fake) == [1, 3, 5]
        fake.today = date(2025, 3, 14)
        assert ids(http, fake) == [1, 2, 3, 4, 5]

    def test_key_without_former_right_never_sees_leavers(
        self, http: urllib3.PoolManager, staff: list[dict[str, object]]
    ) -> None:
        with FakeLucca(staff, today=TODAY, see_former=False) as server:
            assert ids(http, server, formerEmployees="true") == [1, 2, 3, 5]
            assert call(http, server, "/api/v3/users/4")[0] == 404

    def test_key_without_future_right_never_sees_upcoming_hires(
        self, http: urllib3.PoolManager, staff: list[dict[str, object]]
    ) -> None:
        with FakeLucca(staff, today=TODAY, see_future=False) as server:
            assert ids(http, server, formerEmployees="true") == [1, 2, 3, 4]
            assert call(http, server, "/api/v3/users/5")[0] == 404

    def test_single_leaver_is_readable_by_id(
        self, http: urllib3.PoolManager, fake: FakeLucca
    ) -> None:
        status, body = call(http, fake, "/api/v3/users/4", {"fields": "id"})
        assert (status, body["data"]) == (200, {"id": 4})


class TestFilters:
    """Property filters with operators, OR over values, the `null` idiom (§4.5)."""

    def test_several_ids_are_an_in_list(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        assert ids(http, fake, id="5,1,99") == [1, 5]

    def test_unknown_ids_give_an_empty_list(
        self, http: urllib3.PoolManager, fake: FakeLucca
    ) -> None:
        assert ids(http, fake, id="404,405") == []

    def test_since_today_or_null_keeps_current_and_future_staff(
        self, http: urllib3.PoolManager, fake: FakeLucca
    ) -> None:
        listed = ids(http, fake, formerEmployees="true", dtContractEnd="since,2025-03-15,null")
        assert listed == [1, 2, 3, 5]

    def test_until_or_null_gets_everyone(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        assert ids(http, fake, dtContractEnd="until,2050-10-15,null") == [1, 2, 3, 4, 5]

    def test_null_alone_means_no_end_date(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        assert ids(http, fake, dtContractEnd="null") == [1, 3, 5]

    def test_between_is_inclusive(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        listed = ids(http, fake, dtContractStart="between,2018-02-01,2020-06-01")
        assert listed == [2, 3]

    def test_date_filter_accepts_a_date_time(
        self, http: urllib3.PoolManager, fake: FakeLucca
    ) -> None:
        assert ids(http, fake, dtContractStart="until,2015-01-05T00:00:00") == [1]

    def test_modified_since(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        listed = ids(http, fake, formerEmployees="true", modifiedAt="since,2025-02-01T08:45:23")
        assert listed == [2, 3, 4, 5]

    def test_modified_on_quirk_is_filtered_by_either_name(self, http: urllib3.PoolManager) -> None:
        users = [
            make_lucca_user(id=1, modified_key="modifiedOn", modifiedOn="2024-01-01T00:00:00.000"),
            make_lucca_user(id=2, modified_key="modifiedOn", modifiedOn="2025-01-01T00:00:00.000"),
        ]
        with FakeLucca(users, today=TODAY) as server:
            assert ids(http, server, modifiedAt="since,2024-06-01") == [2]
            assert ids(http, server, modifiedOn="until,2024-06-01") == [1]
            returned = items(http, server, fields="id,modifiedAt", id="1")[0]
        assert returned == {"id": 1, "modifiedOn": "2024-01-01T00:00:00.000"}

    def test_comparisons(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        assert ids(http, fake, id="greaterthan,2") == [3, 5]
        assert ids(http, fake, id="greaterthanorequal,3") == [3, 5]
        assert ids(http, fake, id="lessthan,2") == [1]
        assert ids(http, fake, id="lessthanorequal,2") == [1, 2]

    def test_notequal_excludes_every_value(
        self, http: urllib3.PoolManager, fake: FakeLucca
    ) -> None:
        assert ids(http, fake, id="notequal,1,3") == [2, 5]

    def test_mail_exact_match_ignores_case(
        self, http: urllib3.PoolManager, fake: FakeLucca
    ) -> None:
        assert ids(http, fake, mail="Zoe.NDiaye@acme.example") == [2]
        assert ids(http, fake, mail="equals,zoe.ndiaye@acme.example") == [2]

    def test_mail_like_is_contains(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        assert ids(http, fake, mail="like,NDIAYE") == [2]
        assert ids(http, fake, mail="like,acme") == [1, 2, 5]

    def test_mail_null(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        assert ids(http, fake, mail="null") == [3]

    def test_login_exact_and_starts(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        assert ids(http, fake, login="jedupont") == [3]
        assert ids(http, fake, login="jedup") == []
        assert ids(http, fake, login="starts,JEDUP") == [3]

    def test_filters_combine_with_and(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        assert ids(http, fake, mail="like,acme", dtContractStart="since,2016-01-01") == [2, 5]

    def test_nested_property_filter(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        assert ids(http, fake, **{"manager.id": "3"}) == [5]

    def test_repeated_parameter_combines_with_and(
        self, http: urllib3.PoolManager, fake: FakeLucca
    ) -> None:
        params = [("id", "since,2"), ("id", "until,3")]
        status, body = call(http, fake, "/api/v3/users", params)
        assert status == 200
        assert [item["id"] for item in body["data"]["items"]] == [2, 3]

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("dtContractEnd", "since,yesterday"),
            ("modifiedAt", "since,2025-01-01T00:00:00Z"),
            ("id", "abc"),
            ("id", "between,1"),
            ("dtContractStart", "like,2020"),
            ("shoeSize", "42"),
            ("mail", "like"),
        ],
    )
    def test_bad_filters_are_400(
        self, http: urllib3.PoolManager, fake: FakeLucca, name: str, value: str
    ) -> None:
        status, body = call(http, fake, "/api/v3/users", {name: value})
        assert status == 400
        assert body["Message"]


class TestSingleUser:
    """`/api/v3/users/{id}`: the user with `fields` applied, or 404."""

    def test_fields_apply(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        status, body = call(http, fake, "/api/v3/users/5", {"fields": "id,manager[id]"})
        assert status == 200
        assert body["data"] == {"id": 5, "manager": {"id": 3}}

    def test_unknown_id_is_404(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        status, body = call(http, fake, "/api/v3/users/999")
        assert status == 404
        assert body["Message"]

    def test_unknown_route_is_404_naming_what_is_served(
        self, http: urllib3.PoolManager, fake: FakeLucca
    ) -> None:
        status, body = call(http, fake, "/api/v3/departments")
        assert status == 404
        assert "/api/v3/users" in body["Message"]

    def test_other_method_is_405(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        headers = {"Authorization": f"lucca application={fake.api_key}"}
        response = http.request("POST", fake.url + "/api/v3/users", headers=headers, body=b"{}")
        assert response.status == 405


class TestRightsOnExtendedData:
    """Custom fields the key may not see are left out silently."""

    def test_hidden_codes(self, http: urllib3.PoolManager, staff: list[dict[str, object]]) -> None:
        with FakeLucca(staff, today=TODAY, hidden_extended_codes=["E_SKIP_ELEVO_SYNC"]) as server:
            user = items(http, server, fields="extendedData", id="1")[0]
        assert user == {"extendedData": {"e_cost_center": {"id": 9002, "value": "CC-10"}}}

    def test_no_extended_right(
        self, http: urllib3.PoolManager, staff: list[dict[str, object]]
    ) -> None:
        with FakeLucca(staff, today=TODAY, see_extended=False) as server:
            status, body = call(http, server, "/api/v3/users/1", {"fields": "id,extendedData"})
        assert (status, body["data"]) == (200, {"id": 1, "extendedData": {}})

    def test_stored_user_keeps_its_hidden_fields(self, staff: list[dict[str, object]]) -> None:
        server = FakeLucca(staff, see_extended=False)
        extended = server.users[0]["extendedData"]
        assert isinstance(extended, dict)
        assert "e_skip_elevo_sync" in extended
