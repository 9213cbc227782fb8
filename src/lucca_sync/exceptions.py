"""Every error lucca_sync raises, under one root.

```text
LuccaSyncError
├── ConfigurationError (also ValueError)  bad argument, URL, credential or configuration file
├── APIError                              talking to Lucca went wrong
│   ├── APIConnectionError                no HTTP answer (refused, reset, timeout), after retries
│   ├── APIStatusError                    Lucca answered with an error status
│   │   ├── BadRequestError               400: Lucca refused the query
│   │   ├── AuthenticationError           401: wrong, expired or revoked credential
│   │   ├── PermissionDeniedError         403: the credential lacks a right or scope
│   │   ├── NotFoundError                 404
│   │   ├── RateLimitError                429, still after the retries
│   │   └── ServerError                   5xx or 408, still after the retries
│   ├── ResponseDecodeError               a 2xx whose body is not what Lucca documents
│   └── IncompleteReadError               the read cannot be proven complete; it may miss people
├── RuleError                             an exclusion rule raised for one employee
├── MappingError                          one employee's field could not be produced or is invalid
│   └── InvalidValueError                 the value breaks a target constraint (e-mail, date...)
├── SinkError                             the target refused or failed an operation
├── SafetyError                           the plan trips a safety limit; nothing was written
└── PlanMismatchError                     a reviewed plan does not match what is being applied
    └── StalePlanError                    the target changed since the plan, or the plan expired
```

Messages say what happened, where (URL path, employee id, field) and what to check.
They never contain an API key, a client secret or HR data beyond employee ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lucca_sync._engine._plan_model import SafetyViolation

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "IncompleteReadError",
    "InvalidValueError",
    "LuccaSyncError",
    "MappingError",
    "NotFoundError",
    "PermissionDeniedError",
    "PlanMismatchError",
    "RateLimitError",
    "ResponseDecodeError",
    "RuleError",
    "SafetyError",
    "ServerError",
    "SinkError",
    "StalePlanError",
]


class LuccaSyncError(Exception):
    """Root of every error raised by lucca_sync."""


class ConfigurationError(LuccaSyncError, ValueError):
    """An argument, URL, credential or configuration file is invalid.

    ``problems`` lists every problem found (``"path: what was expected"``); the message joins
    them, so one error reports all of them at once.
    """

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        self.problems: tuple[str, ...] = problems or (message,)
        super().__init__(message)


class APIError(LuccaSyncError):
    """Reading Lucca failed. ``url`` is the request URL without its query string."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        self.url = url
        super().__init__(message)


class APIConnectionError(APIError):
    """No usable HTTP answer from Lucca (refused, reset, timed out), even after retries."""


class APIStatusError(APIError):
    """Lucca answered with an error status.

    ``status`` is the HTTP status; ``lucca_message`` is Lucca's own explanation when the body
    had one (truncated, never echoing credentials).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        url: str | None = None,
        lucca_message: str | None = None,
    ) -> None:
        self.status = status
        self.lucca_message = lucca_message
        super().__init__(message, url=url)


class BadRequestError(APIStatusError):
    """400: Lucca refused the query (an unknown field, a bad filter, a page size over 1000)."""


class AuthenticationError(APIStatusError):
    """401: the API key or OAuth client is wrong, expired or revoked."""


class PermissionDeniedError(APIStatusError):
    """403: the credential is valid but its role or scopes do not allow this read."""


class NotFoundError(APIStatusError):
    """404: no such resource (for example an unknown employee id)."""


class RateLimitError(APIStatusError):
    """429 still returned after every allowed retry: the tenant's request budget is exhausted."""


class ServerError(APIStatusError):
    """5xx (or 408) still returned after every allowed retry."""


class ResponseDecodeError(APIError):
    """Lucca answered 2xx, but the body is not the documented shape.

    ``path`` is the JSON path of the offending value (``data.items[3].dtContractStart``) and
    ``employee_id`` the user it belongs to, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        path: str | None = None,
        employee_id: object = None,
    ) -> None:
        self.path = path
        self.employee_id = employee_id
        super().__init__(message, url=url)


class IncompleteReadError(APIError):
    """The read cannot be proven complete, even after re-reading it; nothing was written.

    Employees removed or added between two pages shift the rows of the next page, so some
    could have been skipped; pages may also hold fewer rows than Lucca's own count of the list
    (a page that lost its last rows), or go on past it. Rather than return a list that looks
    complete but may miss people, the read is abandoned.

    Attributes:
        restarts: How many times it was re-read from the start.
        expected: Lucca's count of the list, when the failure is about it (else ``None``).
        received: The distinct rows the last read held, when compared with ``expected``.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        restarts: int = 0,
        expected: int | None = None,
        received: int | None = None,
    ) -> None:
        self.restarts = restarts
        self.expected = expected
        self.received = received
        super().__init__(message, url=url)


class RuleError(LuccaSyncError):
    """An exclusion rule raised while deciding about one employee.

    The plan records it as a per-employee error; the other employees are decided normally.
    """

    def __init__(
        self, message: str, *, employee_id: object = None, rule: str | None = None
    ) -> None:
        self.employee_id = employee_id
        self.rule = rule
        super().__init__(message)


class MappingError(LuccaSyncError):
    """A target field could not be produced, or is invalid, for one employee.

    ``field`` is the target key (``email``, ``custom_site``); the plan records the error for
    that employee and the others continue.
    """

    def __init__(
        self, message: str, *, employee_id: object = None, field: str | None = None
    ) -> None:
        self.employee_id = employee_id
        self.field = field
        super().__init__(message)


class InvalidValueError(MappingError):
    """A mapped value breaks a constraint of the target (e-mail syntax, date format, range).

    ``value`` is the offending value, for programs; it is never part of the message or the
    repr, since it is usually personal data.
    """

    def __init__(
        self,
        message: str,
        *,
        employee_id: object = None,
        field: str | None = None,
        value: str | None = None,
    ) -> None:
        self.value = value
        super().__init__(message, employee_id=employee_id, field=field)


class SinkError(LuccaSyncError):
    """The target refused or failed an operation.

    ``key`` names the target user when the failure concerns one record; ``None`` means the
    whole operation (a publish, a connection) failed.
    """

    def __init__(self, message: str, *, key: str | None = None) -> None:
        self.key = key
        super().__init__(message)


class SafetyError(LuccaSyncError):
    """The plan trips a safety limit (mass suspension, short or empty read); nothing was written.

    ``limit`` names the first guard tripped; ``observed`` and ``allowed`` are its numbers.
    ``reasons`` explains every limit tripped, one sentence each; ``violations`` holds them as
    :class:`lucca_sync.SafetyViolation` values (what each saw, why it stopped the plan, the
    field concerned); ``digest`` is the plan's digest, which approves that exact plan once
    reviewed (``None`` when no plan was made).
    """

    def __init__(
        self,
        message: str,
        *,
        limit: str,
        observed: float | None = None,
        allowed: float | None = None,
        reasons: tuple[str, ...] = (),
        violations: Sequence[SafetyViolation] = (),
        digest: str | None = None,
    ) -> None:
        self.limit = limit
        self.observed = observed
        self.allowed = allowed
        self.violations: tuple[SafetyViolation, ...] = tuple(violations)
        self.reasons = reasons or tuple(violation.message for violation in self.violations)
        self.digest = digest
        super().__init__(message)


class PlanMismatchError(LuccaSyncError):
    """The plan being applied is not the reviewed one (its digest differs), or is stale."""


class StalePlanError(PlanMismatchError):
    """The plan no longer describes the target: it changed since, or the plan is too old.

    A plan is bound to the generation of the target it was made against and to its age
    (``apply(..., max_age=...)``); nothing was written. Make a new plan.
    """
