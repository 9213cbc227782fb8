"""FakeLucca's Lucca API answers, and the reader's requests, checked against Lucca's OpenAPI file.

The 2024-11-01 specification is vendored in ``tests/data``; its schemas are JSON Schema 2020-12,
so ``jsonschema`` validates the fake's bodies and the client's query parameters directly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import urllib3
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from lucca_sync import ClientCredentials, LuccaDirectory
from lucca_sync.testing import FakeLucca, RecordedRequest, generate_company

SPEC_PATH = Path(__file__).parent / "data" / "lucca-api-2024-11-01.openapi.json"
SPEC: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
SPEC_URI = "urn:lucca-api-2024-11-01"
REGISTRY: Registry[Any] = Registry().with_resource(
    SPEC_URI, Resource.from_contents(SPEC, default_specification=DRAFT202012)
)
TODAY = date(2025, 3, 1)
# The file defines the employee-extension schemas and scope but not the path's operation.
UNDOCUMENTED_PATHS = {"/lucca-api/employee-extensions"}


def pointer(*parts: str) -> str:
    escaped = (part.replace("~", "~0").replace("/", "~1") for part in parts)
    return f"{SPEC_URI}#/" + "/".join(escaped)


def validator(ref: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": ref}, registry=REGISTRY)


def response_validator(path: str, status: str = "200") -> Draft202012Validator:
    operation = SPEC["paths"][path]["get"]["responses"][status]
    if "$ref" in operation:
        name = operation["$ref"].rsplit("/", 1)[1]
        content = SPEC["components"]["responses"][name]["content"]
        media = next(iter(content))
        return validator(pointer("components", "responses", name, "content", media, "schema"))
    media = next(iter(operation["content"]))
    return validator(pointer("paths", path, "get", "responses", status, "content", media, "schema"))


def errors_of(check: Draft202012Validator, document: object) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in check.iter_errors(document)]


def parameters(path: str) -> dict[tuple[str, str], tuple[dict[str, Any], str]]:
    """The parameters of GET ``path``, each with a JSON pointer to its schema in the spec."""
    item = SPEC["paths"][path]
    declared: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
    for where, listed in (((path,), item.get("parameters", [])),
                          ((path, "get"), item["get"].get("parameters", []))):  # fmt: skip
        for index, entry in enumerate(listed):
            parameter = entry
            if "$ref" in entry:
                name = entry["$ref"].rsplit("/", 1)[1]
                parameter = SPEC["components"]["parameters"][name]
                schema = pointer("components", "parameters", name, "schema")
            else:
                schema = pointer("paths", *where, "parameters", str(index), "schema")
            declared[(parameter["in"], parameter["name"])] = (parameter, schema)
    return declared


def spec_path(request_path: str) -> str:
    if request_path in SPEC["paths"]:
        return request_path
    return request_path.rsplit("/", 1)[0] + "/{id}"


def request_problems(request: RecordedRequest) -> list[str]:
    """Every way ``request`` departs from the operation the spec declares for its path."""
    path = spec_path(request.path)
    declared = parameters(path)
    problems: list[str] = []
    for (where, name), (parameter, ref) in declared.items():
        if where == "header" and parameter.get("required") and name not in request.headers:
            problems.append(f"missing required header {name}")
        if where == "header" and name in request.headers:
            problems += errors_of(validator(ref), request.headers[name])
    for name, values in request.query.items():
        if ("query", name) not in declared:
            problems.append(f"query parameter {name!r} is not declared for {path}")
            continue
        parameter, ref = declared[("query", name)]
        schema = parameter["schema"]
        check = validator(ref)
        for value in values:
            # Arrays travel comma-separated (style form, explode false; Lucca's docs do the
            # same for include); integers as decimal text.
            decoded: object = value.split(",") if schema.get("type") == "array" else value
            if schema.get("type") == "integer":
                decoded = int(value)
            problems += [f"{name}: {problem}" for problem in errors_of(check, decoded)]
    return problems


@pytest.fixture
def fake() -> Iterator[FakeLucca]:
    with FakeLucca(generate_company(260, today=TODAY), today=TODAY) as server:
        yield server


def credentials(fake: FakeLucca) -> ClientCredentials:
    return ClientCredentials(fake.client_id, fake.client_secret, token_url=fake.token_url)


def get(fake: FakeLucca, path: str, token: str, **query: str) -> tuple[int, Any]:
    url = f"{fake.url}{path}" + (f"?{urlencode(query)}" if query else "")
    headers = {"Authorization": f"Bearer {token}", "Api-Version": "2024-11-01"}
    response = urllib3.request("GET", url, headers=headers, retries=False)
    return response.status, json.loads(response.data)


def token_for(fake: FakeLucca) -> str:
    return credentials(fake).bearer_token(urllib3.PoolManager(), urllib3.Timeout(5))


class TestSpecFile:
    """The vendored specification is the one the fake and the reader are checked against."""

    def test_it_is_the_2024_11_01_version_with_every_resource_the_reader_uses(self) -> None:
        assert SPEC["info"]["version"] == "2024-11-01"
        for path in ("employees", "employments", "job-positions", "departments",
                     "business-establishments"):  # fmt: skip
            assert f"/lucca-api/{path}" in SPEC["paths"]
        assert "employee-extensions" in SPEC["components"]["schemas"]
        scopes = SPEC["components"]["securitySchemes"]["oAuth"]["flows"]["clientCredentials"]
        assert "employee-extensions.readonly" in scopes["scopes"]


class TestFakeResponsesMatchTheSpec:
    """Every FakeLucca collection and resource validates against Lucca's own schemas."""

    @pytest.mark.parametrize(
        "path",
        ["/lucca-api/employees", "/lucca-api/employments", "/lucca-api/job-positions",
         "/lucca-api/departments", "/lucca-api/business-establishments"],
    )  # fmt: skip
    @pytest.mark.parametrize("include", ["embedded,links,totalCount", "links", ""])
    def test_collection_pages_validate(self, fake: FakeLucca, path: str, include: str) -> None:
        token = token_for(fake)
        query = {"limit": "100", **({"include": include} if include else {})}
        status, body = get(fake, path, token, **query)
        assert status == 200
        assert body["items"], "a page with items"
        assert errors_of(response_validator(path), body) == []

    def test_every_page_of_the_employee_list_validates(self, fake: FakeLucca) -> None:
        token = token_for(fake)
        check = response_validator("/lucca-api/employees")
        query = {"include": "embedded,links", "limit": "100",
                 "status": "active,upcoming,deactivated"}  # fmt: skip
        pages = 0
        while True:
            status, body = get(fake, "/lucca-api/employees", token, **query)
            assert status == 200
            assert errors_of(check, body) == []
            pages += 1
            following = body["links"]["next"]
            if following is None:
                break
            query["page"] = parse_qs(urlsplit(following["href"]).query)["page"][0]
        assert pages == 3

    def test_single_employee_validates(self, fake: FakeLucca) -> None:
        status, body = get(fake, "/lucca-api/employees/416", token_for(fake), include="embedded")
        assert status == 200
        assert errors_of(response_validator("/lucca-api/employees/{id}"), body) == []

    def test_employee_extensions_validate_against_their_collection_schema(
        self, fake: FakeLucca
    ) -> None:
        status, body = get(fake, "/lucca-api/employee-extensions", token_for(fake),
                           include="links", limit="100")  # fmt: skip
        assert status == 200
        assert body["items"]
        check = validator(pointer("components", "schemas", "employee-extensions"))
        assert errors_of(check, body) == []

    @pytest.mark.parametrize(
        ("query", "status"),
        [({"limit": "101"}, "400"), ({"include": "everything"}, "400")],
    )
    def test_errors_are_problem_documents(
        self, fake: FakeLucca, query: dict[str, str], status: str
    ) -> None:
        code, body = get(fake, "/lucca-api/employees", token_for(fake), **query)
        assert code == int(status)
        assert errors_of(response_validator("/lucca-api/employees", status), body) == []
        assert body["status"] == code

    def test_an_expired_token_is_a_401_problem_document(self, fake: FakeLucca) -> None:
        token = token_for(fake)
        fake.lucca_api.expire_tokens()
        code, body = get(fake, "/lucca-api/employees", token)
        assert code == 401
        assert errors_of(response_validator("/lucca-api/employees", "401"), body) == []


class TestReaderRequestsMatchTheSpec:
    """The reader sends only parameters the spec declares, with values its schemas accept."""

    def test_a_full_read_and_a_single_read(self, fake: FakeLucca) -> None:
        fake.lucca_api.embed = False  # the bulk fallback requests are checked too
        directory = LuccaDirectory(fake.url, credentials(fake))
        assert len(list(directory.list_employees(include_former=True, today=TODAY))) == 260
        directory.get_employee(416)
        api_requests = [r for r in fake.requests if r.path.startswith("/lucca-api/")]
        checked = {r.path for r in api_requests if r.path not in UNDOCUMENTED_PATHS}
        assert {"/lucca-api/employees", "/lucca-api/employments", "/lucca-api/job-positions",
                "/lucca-api/departments", "/lucca-api/business-establishments",
                "/lucca-api/employees/416"} <= checked  # fmt: skip
        for request in api_requests:
            if request.path in UNDOCUMENTED_PATHS:
                continue
            assert request_problems(request) == [], request.path

    def test_the_checker_rejects_an_undeclared_parameter_and_a_bad_limit(self) -> None:
        request = RecordedRequest(
            method="GET",
            path="/lucca-api/employees",
            query={"limit": ("1000",), "formerEmployees": ("true",)},
            headers={},
        )
        problems = request_problems(request)
        assert any("Api-Version" in problem for problem in problems)
        assert any("formerEmployees" in problem for problem in problems)
        assert any(problem.startswith("limit:") for problem in problems)
