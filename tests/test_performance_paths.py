"""The fast paths of the hot loop give exactly what the general paths give."""

from __future__ import annotations

import gc
import json
from datetime import date
from zoneinfo import ZoneInfo

import attrs
import pytest

from lucca_sync import Employee
from lucca_sync._gc import collector_paused
from lucca_sync._lucca._http import surrogate_free
from lucca_sync._lucca._v3 import V3Decoder
from lucca_sync.exceptions import MappingError
from lucca_sync.mapping import FieldMapping
from lucca_sync.testing import generate_company, make_lucca_user

TODAY = date(2025, 3, 10)
DECODER = V3Decoder(ZoneInfo("Europe/Paris"))
USERS = generate_company(300, seed=3, today=TODAY)


def _decode(user: object, *, fast: bool) -> Employee:
    return DECODER.employee(user, url="https://x/api/v3/users", path="p", surrogate_free=fast)


class TestWellFormedUsers:
    """Users decoded without the converter equal those decoded with it."""

    @pytest.mark.parametrize(
        "changes",
        [
            {},
            {"extendedData": None},
            {"extendedData": {"e_a": {"id": 1, "value": None}, "e_b": [{"value": 2}]}},
            {"modifiedAt": None, "modifiedOn": "2024-01-02T03:04:05+02:00"},
            {"manager": None, "department": None, "legalEntity": None, "mail": None},
            {"dtContractEnd": "2024-12-31T00:00:00"},
        ],
    )
    def test_a_variant_decodes_like_the_converter(self, changes: dict[str, object]) -> None:
        user = {**make_lucca_user(), **changes}
        fast, general = _decode(user, fast=True), _decode(user, fast=False)
        assert attrs.asdict(fast, recurse=False) == attrs.asdict(general, recurse=False)

    def test_a_generated_company_decodes_like_the_converter(self) -> None:
        for user in json.loads(json.dumps(USERS)):
            fast, general = _decode(user, fast=True), _decode(user, fast=False)
            assert attrs.asdict(fast, recurse=False) == attrs.asdict(general, recurse=False)

    def test_an_unusual_shape_still_gets_the_converters_error_path(self) -> None:
        user = {**make_lucca_user(id=7), "department": {"id": "15", "name": "R&D"}}
        with pytest.raises(Exception, match=r"department\.id") as fast:
            _decode(user, fast=True)
        with pytest.raises(Exception, match=r"department\.id") as general:
            _decode(user, fast=False)
        assert str(fast.value) == str(general.value)


class TestSurrogateScan:
    """A page is exempted from the per-string check only when it cannot hold a surrogate."""

    @pytest.mark.parametrize(
        ("body", "free"),
        [
            ('{"a": "Agnès"}'.encode(), True),
            (b'{"a": "\\u00e9"}', True),
            (b'{"a": "\\ud800"}', False),
            (b'{"a": "\\uDFFF"}', False),
            (b'{"a": "\xed\xa0\x80"}', False),
            ('{"a": "x"}'.encode("utf-16"), False),
        ],
    )
    def test_the_scan_flags_every_way_to_a_lone_surrogate(self, body: bytes, free: bool) -> None:
        assert surrogate_free(body) is free


class TestMappingFastPath:
    """map() gives the record and the error that explain() describes."""

    def test_records_match_the_explanations(self) -> None:
        mapping = FieldMapping.elevo_default()
        for user in USERS:
            employee = _decode(user, fast=False)
            explained = mapping.explain(employee)
            errors = [e.error for e in explained if e.error is not None]
            if errors:
                with pytest.raises(MappingError) as raised:
                    mapping.map(employee)
                assert str(raised.value) == errors[0]
            else:
                expected = {e.key: e.value for e in explained if e.present}
                assert mapping.map(employee) == expected

    def test_a_failed_map_leaves_no_reference_cycle(self) -> None:
        employee = Employee(id=5, first_name="A", last_name="B")  # no e-mail: Elevo refuses
        gc.collect()
        with pytest.raises(MappingError):
            FieldMapping.elevo_default().map(employee)
        assert gc.collect() == 0


class TestCollectorPaused:
    """The collector is paused inside the block and restored after it."""

    def test_the_collector_is_enabled_again_after_an_error(self) -> None:
        inside = []

        def fail() -> None:
            with collector_paused():
                inside.append(gc.isenabled())
                raise RuntimeError

        assert gc.isenabled()
        with pytest.raises(RuntimeError):
            fail()
        assert inside == [False]
        assert gc.isenabled()

    def test_a_disabled_collector_stays_disabled(self) -> None:
        gc.disable()
        try:
            with collector_paused():
                pass
            assert not gc.isenabled()
        finally:
            gc.enable()
