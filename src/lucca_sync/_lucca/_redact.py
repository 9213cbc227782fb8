"""Taking secrets out of text, in every spelling a secret can take on the wire.

A server, a proxy or a library may echo a secret back in another form than the one sent: the
client secret form-encoded as it was in the token request (``%2B`` for ``+``), a key upper- or
lower-cased, a slash JSON-escaped (``\\/``), or the whole ``client_id:client_secret`` pair in
base64 as in ``Authorization: Basic``. :func:`redact` replaces each of them.

The exact value is always replaced. The other spellings are looked for only for secrets of at
least :data:`MIN_FUZZY_LENGTH` characters: a shorter value (a test key such as ``"k"``) would
match innocent text once case is ignored. Real keys and secrets are much longer.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Iterable
from typing import Final

__all__ = ["MIN_FUZZY_LENGTH", "REDACTED", "redact"]

#: What a secret is replaced with.
REDACTED: Final = "<redacted>"
#: Secrets shorter than this are only replaced as they are, not in other spellings.
MIN_FUZZY_LENGTH: Final = 8
#: A run of base64 characters (either alphabet) long enough to hide a secret.
_BASE64_RUN: Final = re.compile(r"[A-Za-z0-9+/_-]{12,}={0,2}")


@functools.lru_cache(maxsize=64)
def _spellings(secret: str) -> re.Pattern[str]:
    """One pattern for the secret with each character as itself, percent-encoded (either hex
    case) or JSON-escaped, letters in any case."""
    parts = []
    for char in secret:
        encoded = char.encode("utf-8")
        forms = [re.escape(char), re.escape("".join(f"%{byte:02x}" for byte in encoded))]
        if len(encoded) == 1:
            forms.append(re.escape(f"\\u{ord(char):04x}"))
        if char == "/":
            forms.append(re.escape("\\/"))
        parts.append(f"(?:{'|'.join(forms)})")
    return re.compile("".join(parts), re.IGNORECASE)


def redact(text: str, secrets: Iterable[str], replacement: str = REDACTED) -> str:
    """``text`` with every secret of ``secrets`` replaced, in any of its spellings.

    Args:
        text: A message, a log line, an error body.
        secrets: The values to hide (empty strings are ignored).
        replacement: What each occurrence becomes.
    """
    fuzzy: list[bytes] = []
    # Longest first: a secret that contains another is replaced whole.
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, replacement)
        if len(secret) >= MIN_FUZZY_LENGTH:
            text = _spellings(secret).sub(replacement, text)
            fuzzy.append(secret.lower().encode("utf-8"))
    if not fuzzy:
        return text

    def scrub(match: re.Match[str]) -> str:
        run = match.group()
        for decoded in _base64_decodings(run):
            folded = decoded.lower()
            if any(secret in folded for secret in fuzzy):
                return replacement
        return run

    return _BASE64_RUN.sub(scrub, text)


def _base64_decodings(run: str) -> list[bytes]:
    """What ``run`` decodes to in both base64 alphabets, from each of its first four
    characters (the run may be glued to text that is not part of the encoded value)."""
    body = run.rstrip("=")
    found = []
    for start in range(4):
        candidate = body[start:]
        if len(candidate) % 4 == 1:  # one character cannot end a base64 quantum
            candidate = candidate[:-1]
        candidate += "=" * (-len(candidate) % 4)
        for alphabet in (b"+/", b"-_"):
            try:
                found.append(base64.b64decode(candidate, altchars=alphabet, validate=True))
            except (binascii.Error, ValueError):
                continue
    return found
