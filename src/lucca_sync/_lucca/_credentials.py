"""Credentials for the legacy Lucca API, kept out of every repr, message and log line."""

from __future__ import annotations

from typing import cast

import attrs

from lucca_sync.exceptions import ConfigurationError

__all__ = ["ApiKey"]


def _check_key(_instance: object, _attribute: object, value: str) -> None:
    # The messages below never quote the value: a half-pasted key is still a secret.
    if not isinstance(cast(object, value), str):
        raise ConfigurationError(f"ApiKey expects the key as a str, not {type(value).__name__}")
    if not value.strip():
        raise ConfigurationError("ApiKey is empty: paste the key shown in Lucca's API keys page")
    if any(char.isspace() or not char.isprintable() for char in value):
        raise ConfigurationError(
            "ApiKey contains whitespace or control characters: check for a stray newline or "
            "space around the copied key"
        )


@attrs.frozen(repr=False)
class ApiKey:
    """A Lucca API key for the legacy API (``/api/v3``).

    Sent as ``Authorization: lucca application=<key>``. The value is readable through
    :attr:`value` only: ``repr()`` and ``str()`` always print ``ApiKey(<redacted>)``, so a key
    never lands in a log line, a traceback or an exception message by accident.

    Args:
        value: The key, as shown in Lucca's API keys administration page.

    Raises:
        ConfigurationError: The key is not a non-empty string of printable, non-blank
            characters.
    """

    value: str = attrs.field(validator=_check_key)
    """The key itself; never shown by ``repr``, logs or error messages."""

    def __repr__(self) -> str:
        return "ApiKey(<redacted>)"

    __str__ = __repr__

    def authorization_header(self) -> str:
        """The ``Authorization`` header value Lucca's legacy API expects."""
        return f"lucca application={self.value}"
