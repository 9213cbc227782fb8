"""Test helpers for lucca_sync and for applications built on it.

:class:`FakeLucca` is a fake Lucca tenant over real HTTP on the loopback interface;
:func:`make_lucca_user` and :func:`generate_company` build realistic Lucca v3 user dicts.
:class:`MemorySink` is an in-memory :class:`~lucca_sync.Sink`; :func:`check_sink` runs the sink
conformance suite against any sink.
"""

from __future__ import annotations

from lucca_sync.testing._company import generate_company
from lucca_sync.testing._conformance import ConformanceResult, check_sink
from lucca_sync.testing._fake_http import RecordedRequest
from lucca_sync.testing._fake_lucca import FakeLucca
from lucca_sync.testing._memory_sink import MemorySink, Operation
from lucca_sync.testing._users import make_lucca_user

__all__ = [
    "ConformanceResult",
    "FakeLucca",
    "MemorySink",
    "Operation",
    "RecordedRequest",
    "check_sink",
    "generate_company",
    "make_lucca_user",
]
