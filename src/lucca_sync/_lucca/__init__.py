"""Reading Lucca: credentials, HTTP (pacing, retries, errors), v3 decoding and paging."""

from __future__ import annotations

from lucca_sync._lucca._credentials import ApiKey
from lucca_sync._lucca._directory import EmployeePager, LuccaDirectory
from lucca_sync._lucca._oauth import ClientCredentials

__all__ = ["ApiKey", "ClientCredentials", "EmployeePager", "LuccaDirectory"]
