"""lucca_sync: keep an Elevo account in step with a Lucca HR directory.

Read Lucca with :class:`LuccaDirectory`, decide who is synchronised with exclusion rules, map
fields with :class:`FieldMapping`, review the typed :class:`Plan` from :func:`plan`, and
:func:`apply` it to a :class:`Sink` such as :class:`lucca_sync.elevo.ElevoSink`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from lucca_sync._employee import Employee, Ref
from lucca_sync.sinks import Sink, TargetUser

try:
    __version__ = version("lucca-sync")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = [
    "Employee",
    "Ref",
    "Sink",
    "TargetUser",
    "__version__",
]
