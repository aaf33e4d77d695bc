"""What both S3 clients of the project share: the four failure types, the one mapping from an S3
answer (error code and HTTP status) to them, where the store is and how long to wait for it.

===========================  ===============================================================  ==========
exception                    when                                                             retry?
===========================  ===============================================================  ==========
:class:`ObjectMissing`       ``NoSuchKey``, ``NoSuchBucket`` (AWS; MinIO), ``NoSuchObject``,  no
                             or a 404 without a body (a ``HEAD``)
:class:`StoreRefused`        HTTP 401/403 (reason ``StoreAccessDenied``) or another 4xx but    no
                             408/409/429 (``StoreRejected``); :class:`NameRefused` when the
                             server refuses the key or bucket name itself
:class:`StoreUnavailable`    unreachable, a timeout, a 5xx, 408/409/429 (throttling, conflict)  yes
===========================  ===============================================================  ==========

All three derive from :class:`StoreError`. The clients: :mod:`thumbnailer.objectstore` (``minio``,
for the uploader and the operator's cleanup) and :mod:`resizer.s3` (``obstore``, for the resizer's
pods, which pay its import on every start). This module imports neither.
"""

from __future__ import annotations

from dataclasses import dataclass

from .api import Refusal

#: S3 error codes for "there is no such object" (AWS documents NoSuchKey and NoSuchBucket; older MinIO said NoSuchObject).
MISSING_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "NoSuchObject"})
#: S3 error codes for a key the server will not take (AWS, MinIO): the name, not the store, is at fault.
BAD_KEY_CODES = frozenset({"InvalidObjectName", "XMinioInvalidObjectName", "KeyTooLongError",
                           "XMinioObjectNameTooLong"})
#: S3 error codes for a bucket name the server will not take.
BAD_BUCKET_CODES = frozenset({"InvalidBucketName", "XMinioInvalidBucketName"})
#: 4xx answers still worth retrying: a request timeout, a conflict with a concurrent write, throttling.
RETRYABLE_4XX = frozenset({408, 409, 429})


class StoreError(Exception):
    """Any failure of a store request; ``str()`` names what was being done (``reading s3://b/k: ...``)."""


class ObjectMissing(StoreError):
    """The object does not exist; ``bucket_missing``: because its bucket does not (``NoSuchBucket``);
    ``code``: the answer's S3 error code, ``""`` when it had none (a 404 without a body) and so did
    not say which of the two is missing."""

    def __init__(self, message: str, bucket_missing: bool = False, code: str = ""):
        super().__init__(message)
        self.bucket_missing, self.code = bucket_missing, code


class StoreUnavailable(StoreError):
    """The store could not be reached, timed out, or answered with a server error: worth retrying."""


class StoreRefused(StoreError, Refusal):
    """The store answered and refuses this request for good: retrying the same request cannot help.

    ``reason`` is ``StoreAccessDenied`` (HTTP 401/403: the credentials or the bucket policy) or
    ``StoreRejected`` (another 4xx); ``message`` names the object and the S3 error code.
    """


class NameRefused(StoreRefused):
    """The server refuses the object key (``what == "key"``) or the bucket name (``"bucket"``) itself,
    with the S3 error ``code`` (reason ``StoreRejected``)."""

    def __init__(self, what: str, code: str, doing: str):
        super().__init__("StoreRejected", f"{doing}: the store refuses the {what} name ({code})")
        self.what, self.code = what, code


class ObjectTooLarge(StoreError):
    """The object is larger than the caller's limit: ``size`` bytes (None when it was found while
    streaming, past ``limit``), ``limit`` bytes."""

    def __init__(self, size: int | None, limit: int):
        super().__init__(f"the object is {size} bytes, over the limit of {limit} bytes" if size is not None
                         else f"the object is over the limit of {limit} bytes")
        self.size, self.limit = size, limit


def classify(code: str, status: int, doing: str) -> StoreError:
    """The :class:`StoreError` for an S3 error answer to ``doing`` (``"reading s3://b/k"``): the one
    mapping. ``code`` is the S3 error code of the answer's XML body (``""`` when it has none, as a
    ``HEAD`` answer), ``status`` its HTTP status."""
    if code in MISSING_CODES or (not code and status == 404):
        return ObjectMissing(f"{doing}: {code or 'HTTP 404'}", bucket_missing=code == "NoSuchBucket", code=code)
    code = code or f"HTTP {status}"
    if code in BAD_KEY_CODES:
        return NameRefused("key", code, doing)
    if code in BAD_BUCKET_CODES:
        return NameRefused("bucket", code, doing)
    if status in (401, 403):
        return StoreRefused("StoreAccessDenied", f"{doing}: {code} (check the credentials and the bucket policy)")
    if 400 <= status < 500 and status not in RETRYABLE_4XX:
        return StoreRefused("StoreRejected", f"{doing}: {code} (HTTP {status})")
    return StoreUnavailable(f"{doing}: {code}")


@dataclass(frozen=True)
class Endpoint:
    """Where the store is and who we are there: ``host`` is ``host:port``; ``secure`` means HTTPS."""

    host: str
    access_key: str
    secret_key: str
    secure: bool = False
    region: str = "us-east-1"


@dataclass(frozen=True)
class Tuning:
    """How long to wait and how often to retry: seconds to connect and to read (minio: between bytes;
    obstore: the whole request), retries of connection errors and 5xx (backoff ``backoff`` seconds,
    doubling; urllib3's retries under minio, object_store's own under obstore), pooled connections."""

    connect: float = 3
    read: float = 30
    retries: int = 2
    backoff: float = 0.2
    pool_size: int = 10


@dataclass(frozen=True)
class ObjectInfo:
    """An object's ``etag`` (unquoted), ``size`` in bytes and ``content_type``."""

    etag: str
    size: int
    content_type: str
