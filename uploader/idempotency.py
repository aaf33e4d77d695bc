"""Idempotency-Key rules: when a retried upload is "the same request" as the one that created a job.

The semantics follow the IETF draft "The Idempotency-Key HTTP Header Field"
(draft-ietf-httpapi-idempotency-key-header): a key reused with the same request replays the first
answer; reused with a different request it is an error (here 422).
"""

from __future__ import annotations

from thumbnailer import api

from .views import effective_options

#: Longest Idempotency-Key accepted, characters (the draft sets no limit; this keeps the header sane).
MAX_KEY_LENGTH = 255


class InvalidKey(ValueError):
    """The Idempotency-Key header is empty, longer than :data:`MAX_KEY_LENGTH` characters, has a character
    other than visible ASCII, or a comma (the header given twice)."""


class KeyReused(Exception):
    """The key already made a job from a different upload; ``str()`` says what differs."""


def check_key(key: str | None) -> str | None:
    """``key`` if it is a usable Idempotency-Key or None (no header); else :class:`InvalidKey`.

    Usable: 1 to 255 visible ASCII characters (``%x21-7E``, as a token or a quoted sf-string of the
    draft), none of them a comma. A header given twice reaches a WSGI application as one value, the
    two joined by a comma (RFC 9110, 5.3), and two keys are not one request's key.
    """
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise InvalidKey(f"the Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} characters")
    if "," in key:
        raise InvalidKey("give one Idempotency-Key header, once: a comma (or the header repeated, which "
                         "arrives joined by a comma) makes the key ambiguous")
    if not all("!" <= c <= "~" for c in key):
        raise InvalidKey("the Idempotency-Key must be visible ASCII characters, without spaces")
    return key


def fingerprint(sha256: str, spec: dict) -> tuple[str, tuple]:
    """What makes two uploads the same request: the bytes (their SHA-256, hex) and the thumbnail
    asked for with the defaults filled in (``width``, ``height``, ``fit``, ``format``)."""
    return sha256, tuple(sorted(effective_options(spec).items()))


def check_same_request(previous: dict, sha256: str, spec: dict) -> None:
    """Return if ``previous`` (the ThumbnailJob an earlier request with the key created) was made from
    the bytes with SHA-256 ``sha256`` and the same effective ``spec``; else raise :class:`KeyReused`."""
    before = fingerprint(previous["metadata"].get("annotations", {}).get(api.ANNOTATION_SHA256, ""),
                         previous.get("spec") or {})
    now = fingerprint(sha256, spec)
    if before == now:
        return
    if before[0] != now[0]:
        what = "other bytes"
    else:
        old, new = dict(before[1]), dict(now[1])
        what = "other parameters: " + ", ".join(f"{k} {new[k]}, not {old[k]}" for k in old if old[k] != new[k])
    raise KeyReused(f"this Idempotency-Key was already used for a different upload ({what})")
