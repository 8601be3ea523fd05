"""Checksums of JSON documents: SHA-256 of the RFC 8785 JSON Canonicalization Scheme (JCS) form.

The canonical form comes from the `rfc8785` library (a maintained implementation with the RFC's test
vectors). It is pure Python and holds the GIL ~0.14 s per MB, so the common case takes a fast path
that produces the same bytes in C: msgspec decodes the body with every float literal turned into its
JCS spelling (`float_hook`, formatted by `rfc8785` itself: ECMAScript's shortest round-trip form,
`1.0` -> `1`, `1e21` -> `1e+21`) and re-encodes it with object members sorted (`order="sorted"`). That
equals JCS exactly when

- member names sort the same by code point as by UTF-16 code unit (JCS's order): true unless a name
  holds a character beyond U+FFFF, so any body with a 4-byte UTF-8 sequence or an escaped surrogate
  (`\\ud83d`) takes the slow path;
- every integer is within ±(2^53 - 1) (JCS numbers are IEEE doubles; `rfc8785` refuses larger ones):
  any body with a run of 16 or more digits takes the slow path;
- strings are escaped alike (`"`, `\\`, the short escapes, other controls as lowercase `\\u00xx`,
  everything else raw UTF-8): msgspec does exactly that.

tests/test_uploads_jcs.py checks the fast path against `rfc8785` on the RFC's examples and on
generated documents.
"""

from __future__ import annotations

import hashlib
import re

import msgspec
import rfc8785

_BIG_INT = re.compile(rb"\d{16,}")
# A character beyond U+FFFF: the lead byte of a 4-byte UTF-8 sequence, or an escaped high surrogate.
_ASTRAL = re.compile(rb"[\xf0-\xff]|\\u[dD][89abAB]")
_fast_decoder = msgspec.json.Decoder(float_hook=lambda text: msgspec.Raw(rfc8785.dumps(float(text))))
_plain_decoder = msgspec.json.Decoder()


class CanonicalError(ValueError):
    """The document has no JCS form (an integer beyond ±(2^53 - 1), a lone surrogate, a non-finite number)."""


def canonical(body: bytes, drop: str | None = None) -> bytes:
    """The JCS form of the JSON object or value in `body` (already known to be valid JSON), without its
    top-level member `drop` when given. Raises CanonicalError."""
    if not _ASTRAL.search(body) and not _BIG_INT.search(body):
        try:
            doc = _fast_decoder.decode(body)
            if drop is not None and isinstance(doc, dict):
                doc.pop(drop, None)
            return msgspec.json.encode(doc, order="sorted")
        except (msgspec.DecodeError, msgspec.EncodeError, UnicodeError, ValueError, OverflowError):
            pass  # the slow path decides (and words the error)
    try:
        doc = _plain_decoder.decode(body)
        if drop is not None and isinstance(doc, dict):
            doc.pop(drop, None)
        return rfc8785.dumps(doc)
    except (rfc8785.CanonicalizationError, msgspec.DecodeError, UnicodeError, ValueError, OverflowError) as exc:
        raise CanonicalError(f"the document has no RFC 8785 canonical form: {exc}") from None


def checksum(body: bytes, drop: str | None = "checksum") -> str:
    """Lowercase hex SHA-256 of `canonical(body, drop)`: what an encounter's `checksum` member must
    say (the body without its `checksum` member, canonicalised by RFC 8785). Raises CanonicalError."""
    return hashlib.sha256(canonical(body, drop)).hexdigest()
