"""Checked by mypy --strict only (never run): the public types stay what the docs promise."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any, assert_type

import lucca_sync
from lucca_sync import rules
from lucca_sync.elevo import ElevoSink, Encryption, RecipientKey
from lucca_sync.testing import FakeLucca, MemorySink, make_lucca_user


def public_types(fake: FakeLucca) -> None:
    directory = lucca_sync.LuccaDirectory(fake.url, lucca_sync.ApiKey(fake.api_key))
    pager = directory.list_employees(include_former=True)
    assert_type(pager.by_page(), Iterator[list[lucca_sync.Employee]])
    for employee in pager:
        assert_type(employee, lucca_sync.Employee)
        assert_type(employee.manager_id, int | None)
        assert_type(employee.contract_start, date | None)
    assert_type(directory.get_employee(1), lucca_sync.Employee)

    mapping = lucca_sync.FieldMapping.elevo_default()
    record = mapping.map(directory.get_employee(1))
    assert_type(record, dict[str, str | None])

    rule: lucca_sync.ExclusionRule = rules.skip_flag("e_other")
    sink = MemorySink()
    plan = lucca_sync.plan(directory, sink, rules=(rule,), mapping=mapping)
    assert_type(plan, lucca_sync.Plan)
    assert_type(plan.is_empty, bool)
    assert_type(plan.digest, str)
    assert_type(lucca_sync.Plan.from_json(plan.to_json()), lucca_sync.Plan)
    assert_type(lucca_sync.apply(plan, sink), lucca_sync.SyncReport)
    assert_type(lucca_sync.sync(directory, sink, dry_run=True), lucca_sync.SyncReport)
    assert_type(make_lucca_user(id=1), dict[str, Any])
    elevo: lucca_sync.Sink = ElevoSink.to_directory("drop")
    assert_type(elevo, lucca_sync.Sink)
    encrypted = ElevoSink.to_directory("drop", encryption=Encryption("elevo.asc", armor=True))
    assert_type(encrypted.encryption_key, RecipientKey | None)
    assert_type(encrypted.probe(), tuple[str, ...])
    if encrypted.encryption_key is not None:
        assert_type(encrypted.encryption_key.fingerprint, str)
        assert_type(encrypted.encryption_key.expires_within(30), bool)
    oauth = lucca_sync.ClientCredentials("client", "secret", token_url=fake.token_url)
    assert_type(lucca_sync.LuccaDirectory(fake.url, oauth).get_employee(1), lucca_sync.Employee)
