"""Reading Lucca: from HTTP responses to :class:`~lucca_sync.Employee` values.

Where things live, in the order a request travels:

- ``_credentials.py`` — `ApiKey` (legacy API); ``_oauth.py`` — `ClientCredentials` and the
  OAuth2 token cache of the Lucca API;
- ``_pacing.py`` — the client-side budget (Lucca's 50 requests per minute per tenant);
- ``_http.py`` — `LuccaHttp`: URL checks, headers, redaction, retries (urllib3's `Retry`) and the
  status → exception mapping;
- ``_wire.py`` — what both decoders share: wire errors with their JSON path;
- ``_v3.py`` — the legacy ``/api/v3/users`` JSON to `Employee` (hand decoder + cattrs);
- ``_lucca_api.py`` — the new ``/lucca-api`` resources (employees, employments, job positions,
  departments, establishments, extensions) joined into `Employee`;
- ``_directory.py`` — `LuccaDirectory` and its lazy `EmployeePager`: which API, paging,
  completeness, incremental reads.

A new Lucca resource gets its own decoding module beside ``_v3.py``/``_lucca_api.py``, read
through `LuccaHttp`, and is exposed by a method of `LuccaDirectory`.
"""

from __future__ import annotations

from lucca_sync._lucca._credentials import ApiKey
from lucca_sync._lucca._directory import EmployeePager, LuccaDirectory
from lucca_sync._lucca._oauth import ClientCredentials

__all__ = ["ApiKey", "ClientCredentials", "EmployeePager", "LuccaDirectory"]
