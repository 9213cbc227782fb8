"""The default rules against users read from a Lucca stub over HTTP, in every flag shape."""

from __future__ import annotations

from datetime import date

import lucca_sync
from lucca_sync import ApiKey, LuccaDirectory, rules
from lucca_sync.rules import RuleContext, decide
from lucca_sync.testing import FakeLucca, make_lucca_user

# user id -> the check box exactly as Lucca's JSON may carry it (None: no key at all)
WIRE_FLAGS: dict[int, object] = {
    101: {"id": 90001, "value": True},
    102: {"id": 90002, "value": "true"},
    103: True,
    104: "True",
    105: {"id": 90005, "value": False},
    106: {"id": 90006, "value": "false"},
    107: False,
    108: "false",
    109: None,
    110: {"id": 90010, "value": None},
    111: {"id": 90011, "value": "sans doute"},
}
TICKED = {101, 102, 103, 104}
UNREADABLE = {111}


def wire_user(user_id: int, flag: object, *, code: str = "e_skip_elevo_sync") -> dict[str, object]:
    extended: dict[str, object] = {"e_contract_type": {"id": 1, "value": "CDI"}}
    if flag is not None:
        extended[code] = flag
    return make_lucca_user(id=user_id, extendedData=extended)


class TestDefaultRulesOverTheWire:
    """DEFAULT_RULES excludes exactly the ticked boxes, whatever shape Lucca sends."""

    def test_each_wire_shape(self) -> None:
        users = [wire_user(user_id, flag) for user_id, flag in WIRE_FLAGS.items()]
        users.append(make_lucca_user(id=112))  # no extendedData entry at all
        with FakeLucca(users=users) as fake:
            directory = LuccaDirectory(fake.url, ApiKey(fake.api_key))
            employees = list(directory.list_employees(include_former=True))
        context = RuleContext.for_employees(employees, today=date(2024, 5, 15))
        decisions = {e.id: decide(lucca_sync.DEFAULT_RULES, e, context) for e in employees}

        assert len(decisions) == len(WIRE_FLAGS) + 1
        excluded = {i for i, d in decisions.items() if d is not None and not d.warning}
        warned = {i for i, d in decisions.items() if d is not None and d.warning}
        assert excluded == TICKED
        assert warned == UNREADABLE

    def test_another_code_is_honoured(self) -> None:
        users = [
            wire_user(201, {"id": 1, "value": True}, code="e_other"),
            wire_user(202, {"id": 2, "value": True}),
        ]
        with FakeLucca(users=users) as fake:
            directory = LuccaDirectory(fake.url, ApiKey(fake.api_key))
            employees = list(directory.list_employees())
        context = RuleContext(today=date(2024, 5, 15))
        other = (rules.skip_flag("e_other"),)
        assert {e.id for e in employees if decide(other, e, context)} == {201}
