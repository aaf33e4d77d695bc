"""Job IDs: the names of the ThumbnailJobs the uploader creates.

An upload without an Idempotency-Key gets a time-ordered ID, so the API server's name order (its
list order) is newest first; one with a key gets an ID derived from the key, so concurrent retries
collide on the API server's name uniqueness and exactly one create succeeds.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time

#: base32hex (RFC 4648, section 7) in lower case: its characters sort like the numbers they encode.
B32HEX = "0123456789abcdefghijklmnopqrstuv"
#: A name the API server could hold: an RFC 1123 DNS subdomain label run (lower case, digits, ``-``; 1-253).
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,251}[a-z0-9])?$")


def base32hex(n: int, chars: int) -> str:
    """The low ``5 * chars`` bits of ``n`` as ``chars`` base32hex characters, most significant first."""
    return "".join(B32HEX[(n >> (5 * i)) & 31] for i in reversed(range(chars)))


def new_job_id(now_ms: int | None = None) -> str:
    """A fresh job ID: ``tj-`` + 9 time characters + 7 random ones (16 base32hex characters in all).

    The time part is (2**45 - milliseconds since the epoch, ``now_ms`` or the clock's) in base32hex,
    so IDs sort newest first; the random part (35 bits) keeps IDs of the same millisecond apart.
    """
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    return "tj-" + base32hex(2**45 - ms, 9) + "".join(secrets.choice(B32HEX) for _ in range(7))


def keyed_job_id(key: str) -> str:
    """The job ID of an upload sent with Idempotency-Key ``key``: ``tj-`` + 16 base32hex characters
    of SHA-256(key) (80 bits). Deterministic; the cost is that such IDs do not sort by age."""
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:10], "big")
    return "tj-" + base32hex(digest, 16)


def plausible_job_id(text: str) -> bool:
    """Whether ``text`` could name a ThumbnailJob at all (anything else is not asked of the API server)."""
    return bool(_NAME.match(text))
