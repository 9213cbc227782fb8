# ruff: noqa: PT017 - a fuzzed input may or may not be refused: the except blocks check both
"""Fuzzing: random JSON in every position of a Lucca page, random configuration files.

Whatever Lucca or a configuration file holds, only ``LuccaSyncError`` subclasses may leave the
library: a ``KeyError`` or ``TypeError`` escaping would stop an unattended run without saying
what was wrong where.
"""

from __future__ import annotations

import copy
import json
import random
import tomllib
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from fake_clock import FakeClock
from lucca_sync import ApiKey, LuccaDirectory, plan
from lucca_sync._lucca._v3 import V3Decoder
from lucca_sync.cli._config_load import config_from_dict, load_config
from lucca_sync.exceptions import ConfigurationError, LuccaSyncError, ResponseDecodeError
from lucca_sync.testing import FakeLucca, MemorySink, make_lucca_user

from ._support import TODAY

FUZZED_BODIES = 200
Path_ = tuple[str | int, ...]


def valid_page() -> dict[str, object]:
    """A realistic page: manager references, departments, custom fields of every shape."""
    users = [
        make_lucca_user(
            id=1,
            firstName="Zoé",
            lastName="L'Hôte-Müller",
            mail="zoe@acme.example",
            dtContractStart=date(2020, 1, 6),
            dtContractEnd=None,
            manager=None,
            skip_flag=False,
            extendedData={"e_cost_center": {"id": 3, "value": "R&D"}},
        ),
        make_lucca_user(
            id=2,
            firstName="Noé",
            lastName="Dupont",
            mail="noe@acme.example",
            dtContractStart=date(2021, 3, 1),
            dtContractEnd=date(2026, 3, 1),
            manager=1,
            skip_flag=True,
            extendedData={"e_sites": [{"id": 1, "value": "Lyon"}, {"id": 2, "value": None}]},
        ),
        make_lucca_user(
            id=3,
            firstName="Inès",
            lastName="Ça",
            mail=None,
            login="ines",
            dtContractStart=date(2019, 9, 2),
            dtContractEnd=date(2024, 12, 31),
            manager=2,
        ),
    ]
    return {
        "header": {"generated": "2025-01-15T08:00:00.000", "principal": "API key"},
        "data": {"items": users},
    }


def paths(value: object, prefix: Path_ = ()) -> Iterator[Path_]:
    """Every position of a JSON document, the root included."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


def random_json(rng: random.Random, depth: int = 0) -> object:
    """A random JSON value, biased towards what breaks decoders."""
    choices: list[object] = [
        None,
        True,
        False,
        0,
        -1,
        2**63,
        10**400,
        1.5,
        float("nan"),
        float("inf"),
        "",
        " ",
        "\ud800",
        "\x00",
        "2025-02-30T00:00:00",
        "2025-01-15T10:00:00+14:00",
        "2025-01-15",
        "9999-12-31T23:59:59.9999999",
        "true",
        "1",
        "=1+1",
        "Zoé " * 50,
        [],
        {},
        {"id": None, "value": None},
        {"value": {"value": [{"value": 1}]}},
        {"id": "3", "name": 4},
    ]
    if depth < 3 and rng.random() < 0.3:
        if rng.random() < 0.5:
            return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
        keys = ["id", "value", "name", "items", "data", "manager", "extendedData", "x"]
        return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    return rng.choice(choices)


def set_at(document: object, path: Path_, value: object) -> object:
    if not path:
        return value
    parent = document
    for step in path[:-1]:
        parent = parent[step]  # type: ignore[index]
    parent[path[-1]] = value  # type: ignore[index]
    return document


def delete_at(document: object, path: Path_) -> object:
    if not path:
        return None
    parent = document
    for step in path[:-1]:
        parent = parent[step]  # type: ignore[index]
    del parent[path[-1]]  # type: ignore[attr-defined]
    return document


def mutate(document: object, rng: random.Random) -> object:
    """1 to 3 changes at random positions: a new value, a removal, or a renamed key."""
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(list(paths(document)))
        action = rng.random()
        if action < 0.7:
            document = set_at(document, path, random_json(rng))
        elif action < 0.9:
            document = delete_at(document, path)
        elif path and isinstance(path[-1], str):
            parent_path = path[:-1]
            parent = document
            for step in parent_path:
                parent = parent[step]  # type: ignore[index]
            assert isinstance(parent, dict)
            parent[path[-1].upper()] = parent.pop(path[-1])
    return document


def fuzzed_bodies(count: int, seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    for index in range(count):
        if index % 25 == 24:  # raw bytes: deep nesting, garbage, a cut document
            yield rng.choice(
                [b"[" * 5000 + b"]" * 5000, b"\xff\xfe{", b'{"data":{"items":[{"id":1,']
            )
            continue
        document = mutate(copy.deepcopy(valid_page()), rng)
        yield json.dumps(document, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")


class TestDecoderFuzz:
    """200 fuzzed pages served over HTTP: only LuccaSyncError subclasses escape."""

    def test_fuzzed_pages_raise_only_lucca_sync_errors(self) -> None:
        clock = FakeClock()
        escaped: list[str] = []
        outcomes = {"read": 0, "refused": 0}
        with FakeLucca(today=TODAY) as fake:
            directory = LuccaDirectory(
                fake.url, ApiKey(fake.api_key), clock=clock, sleep=clock.sleep
            )
            for body in fuzzed_bodies(FUZZED_BODIES, seed=10):
                fake.fail_next(200, body=body, times=3)
                for attempt in ("strict", "lenient", "plan"):
                    try:
                        if attempt == "plan":
                            plan(directory, MemorySink(), today=TODAY)
                        else:
                            list(directory.list_employees(strict=attempt == "strict"))
                    except LuccaSyncError:
                        outcomes["refused"] += 1
                    except Exception as exc:
                        escaped.append(f"{attempt}: {type(exc).__name__}: {exc} <- {body[:300]!r}")
                    else:
                        outcomes["read"] += 1
                fake.clear_faults()
        assert escaped == []
        # The fuzz reaches both sides: pages that still read, and pages that are refused.
        assert outcomes["read"] > 50
        assert outcomes["refused"] > 50

    @given(st.data())
    def test_decoder_raises_only_response_decode_error(self, data: st.DataObject) -> None:
        seed = data.draw(st.integers(min_value=0, max_value=2**32))
        document = mutate(copy.deepcopy(valid_page()), random.Random(seed))
        decoder = V3Decoder(ZoneInfo("Europe/Paris"))
        url = "https://acme.ilucca.net/api/v3/users"
        try:
            prefix, items = decoder.items(document, url=url)
        except ResponseDecodeError as exc:
            assert exc.url == url
            return
        for index, item in enumerate(items):
            try:
                employee = decoder.employee(item, url=url, path=f"{prefix}[{index}]")
            except ResponseDecodeError as exc:
                assert exc.path is not None
                assert exc.path.startswith(f"{prefix}[{index}]")
            else:
                assert employee.status(TODAY) in {"active", "upcoming", "former"}


CONFIG = """
[lucca]
url = "https://acme.ilucca.net"
api_key_env = "LUCCA_API_KEY"
timeout = 10.0
retries = 5
page_size = 1000
requests_per_minute = 50

[rules]
on_excluded = "leave"

[[rules.exclude]]
rule = "skip_flag"
code = "e_skip_elevo_sync"

[[rules.exclude]]
rule = "in_department"
departments = [12, "Sales"]

[mapping]
extends = "elevo_default"
remove = ["department"]

[mapping.fields.custom_site]
source = "legalEntity.name"
transforms = ["strip", { truncate = 50 }]
on_empty = "leave"

[sink]
type = "directory"
path = "elevo-drop"
state_dir = "lucca-sync-state"

[safety]
max_suspensions = 10
max_suspension_ratio = 0.05
min_source_ratio = 0.5
allow_empty_source = false

[sync]
time_zone = "Europe/Paris"
match_by = ["email"]
manager_fallback = "nearest_ancestor"
"""


def random_toml(rng: random.Random, depth: int = 0) -> object:
    """A random TOML value (what tomllib can return)."""
    choices: list[object] = [
        "",
        "x",
        "https://acme.ilucca.net",
        "http://acme.ilucca.net",
        "Europe/Nowhere",
        "skip_flag",
        "elevo_default",
        "sftp",
        -1,
        0,
        1001,
        2**70,
        0.5,
        -0.5,
        float("nan"),
        True,
        False,
        date(2025, 1, 15),
        datetime(2025, 1, 15, 8, 0),
        time(8, 0),
        [],
        {},
    ]
    if depth < 2 and rng.random() < 0.3:
        if rng.random() < 0.5:
            return [random_toml(rng, depth + 1) for _ in range(rng.randint(0, 3))]
        keys = ["rule", "source", "type", "code", "path", "x", "transforms", "fields"]
        return {rng.choice(keys): random_toml(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    return rng.choice(choices)


def mutate_config(rng: random.Random) -> dict[str, object]:
    document: dict[str, object] = tomllib.loads(CONFIG)
    result: object = document
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(list(paths(result))[1:])
        if rng.random() < 0.75:
            result = set_at(result, path, random_toml(rng))
        else:
            result = delete_at(result, path)
    assert isinstance(result, dict)
    return result


def mutate_text(rng: random.Random) -> str:
    lines = CONFIG.splitlines()
    for _ in range(rng.randint(1, 3)):
        index = rng.randrange(len(lines))
        action = rng.random()
        if action < 0.3:
            del lines[index]
        elif action < 0.6:
            lines.insert(index, lines[rng.randrange(len(lines))])
        else:
            line = lines[index]
            cut = rng.randint(0, len(line))
            lines[index] = (
                line[:cut] + rng.choice(["=", '"', "[", "]", "\x00", "é", "\\u"]) + line[cut:]
            )
    return "\n".join(lines)


class TestConfigurationFuzz:
    """Random configuration files and documents: only ConfigurationError escapes."""

    def test_the_unmutated_configuration_loads(self, tmp_path: Path) -> None:
        path = tmp_path / "lucca-sync.toml"
        path.write_text(CONFIG, encoding="utf-8")
        config = load_config(path)
        assert config.lucca.url == "https://acme.ilucca.net"

    def test_fuzzed_documents_raise_only_configuration_error(self, tmp_path: Path) -> None:
        rng = random.Random(11)
        escaped: list[str] = []
        refused = 0
        for _ in range(FUZZED_BODIES):
            document = mutate_config(rng)
            try:
                config_from_dict(document, path=tmp_path / "lucca-sync.toml")
            except ConfigurationError as exc:
                refused += 1
                assert exc.problems
            except Exception as exc:
                escaped.append(f"{type(exc).__name__}: {exc} <- {document!r}"[:600])
        assert escaped == []
        assert 20 < refused < FUZZED_BODIES  # mutations both break and keep valid files

    def test_fuzzed_files_raise_only_configuration_error(self, tmp_path: Path) -> None:
        rng = random.Random(12)
        path = tmp_path / "lucca-sync.toml"
        escaped: list[str] = []
        for _ in range(FUZZED_BODIES):
            text = mutate_text(rng)
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
            try:
                load_config(path)
            except ConfigurationError:
                pass
            except Exception as exc:
                escaped.append(f"{type(exc).__name__}: {exc} <- {text!r}"[:600])
        assert escaped == []

    @given(st.integers(min_value=0, max_value=2**32))
    def test_any_mutation_raises_only_configuration_error(self, seed: int) -> None:
        document = mutate_config(random.Random(seed))
        try:
            config = config_from_dict(document, path=Path("/nonexistent/lucca-sync.toml"))
        except ConfigurationError as exc:
            assert exc.problems
        else:
            assert config.safety.max_suspensions >= 0


class TestFuzzFindings:
    """Regressions for what the fuzz found, each reduced to its smallest case."""

    def test_lone_surrogate_is_a_malformed_user_not_a_crash(self) -> None:
        user = make_lucca_user(id=5, firstName="Zo\ud800", dtContractStart=date(2020, 1, 6))
        url = "https://acme.ilucca.net/api/v3/users"
        decoder = V3Decoder(ZoneInfo("Europe/Paris"))
        try:
            decoder.employee(user, url=url, path="data.items[0]")
        except ResponseDecodeError as exc:
            assert exc.employee_id == 5
            assert exc.path in {"data.items[0].name", "data.items[0].firstName"}  # the first found
            str(exc).encode("utf-8")  # the message itself is writable
        else:
            raise AssertionError("a lone surrogate must be refused")

    def test_table_as_sink_type_is_a_configuration_problem(self) -> None:
        document = tomllib.loads(CONFIG)
        document["sink"]["type"] = {"directory": True}
        try:
            config_from_dict(document, path=Path("lucca-sync.toml"))
        except ConfigurationError as exc:
            assert any(problem.startswith("sink.type:") for problem in exc.problems)
        else:
            raise AssertionError("an unhashable sink.type must be refused")
