"""Test helpers for lucca_sync and for applications built on it.

:class:`FakeLucca` is a fake Lucca tenant over real HTTP on the loopback interface;
:func:`make_lucca_user` and :func:`generate_company` build realistic Lucca v3 user dicts.
:class:`MemorySink` is an in-memory :class:`~lucca_sync.Sink`; :func:`check_sink` runs the sink
conformance suite against any sink. :class:`FakeClock` lets retries and pacing run without
waiting.

Where things live:

- ``_users.py`` — `make_lucca_user`; ``_company.py`` — `generate_company`;
- ``_fake_http.py`` — the fakes' HTTP server, `RecordedRequest`, responses;
- ``_fake_lucca.py`` — `FakeLucca`: the v3 directory, fault injection, the request log;
- ``_fake_query.py`` — the v3 query grammar (fields, filters, order, paging);
- ``_fake_lucca_api.py`` — the Lucca API (OAuth2, ``/lucca-api``) on the same fake;
- ``_memory_sink.py`` — `MemorySink`; ``_conformance.py`` — `check_sink`;
- ``_clock.py`` — `FakeClock`;
- ``pytest_plugin.py`` — opt-in fixtures.
"""

from __future__ import annotations

from lucca_sync.testing._clock import FakeClock
from lucca_sync.testing._company import generate_company
from lucca_sync.testing._conformance import ConformanceResult, check_sink
from lucca_sync.testing._fake_http import RecordedRequest
from lucca_sync.testing._fake_lucca import FakeLucca
from lucca_sync.testing._memory_sink import (
    FailingOperation,
    MemorySink,
    Operation,
    OperationName,
)
from lucca_sync.testing._users import make_lucca_user

__all__ = [
    "ConformanceResult",
    "FailingOperation",
    "FakeClock",
    "FakeLucca",
    "MemorySink",
    "Operation",
    "OperationName",
    "RecordedRequest",
    "check_sink",
    "generate_company",
    "make_lucca_user",
]
