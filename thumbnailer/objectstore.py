"""The one S3 access layer: the uploader, the operator's cleanup and the resizer all reach the store
through :class:`ObjectStore`, and every failure comes out as one of four types, decided in one place.

===========================  ===============================================================  ==========
exception                    when                                                             retry?
===========================  ===============================================================  ==========
:class:`ObjectMissing`       ``NoSuchKey``, ``NoSuchBucket`` (AWS; MinIO), ``NoSuchObject``   no
:class:`StoreRefused`        HTTP 401/403 (reason ``StoreAccessDenied``) or another 4xx but    no
                             408/409/429 (``StoreRejected``); :class:`NameRefused` when the
                             server refuses the key or bucket name itself
:class:`StoreUnavailable`    unreachable, a timeout, a 5xx, 408/409/429 (throttling, conflict)  yes
===========================  ===============================================================  ==========

All three derive from :class:`StoreError`. The client is ``minio`` (a well-kept S3 client that
speaks to AWS, MinIO, versitygw and Ceph alike); each component chooses its own timeouts and
retries (:class:`Tuning`), since an API request, a cleanup and a batch Job wait differently.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import BinaryIO, Iterator

import urllib3
from minio import Minio
from minio.error import S3Error

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
#: HTTP statuses urllib3 retries itself (``Tuning.retries`` times).
RETRY_STATUSES = (500, 502, 503, 504)


class StoreError(Exception):
    """Any failure of a store request; ``str()`` names what was being done (``reading s3://b/k: ...``)."""


class ObjectMissing(StoreError):
    """The object does not exist; ``bucket_missing``: because its bucket does not (``NoSuchBucket``)."""

    def __init__(self, message: str, bucket_missing: bool = False):
        super().__init__(message)
        self.bucket_missing = bucket_missing


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


def translate(error: S3Error, doing: str) -> StoreError:
    """The :class:`StoreError` for an S3 error answer to ``doing`` (``"reading s3://b/k"``): the one mapping."""
    status = getattr(error.response, "status", None) or 0
    if error.code in MISSING_CODES:
        return ObjectMissing(f"{doing}: {error.code}", bucket_missing=error.code == "NoSuchBucket")
    if error.code in BAD_KEY_CODES:
        return NameRefused("key", error.code, doing)
    if error.code in BAD_BUCKET_CODES:
        return NameRefused("bucket", error.code, doing)
    if status in (401, 403):
        return StoreRefused("StoreAccessDenied", f"{doing}: {error.code} (check the credentials and the bucket policy)")
    if 400 <= status < 500 and status not in RETRYABLE_4XX:
        return StoreRefused("StoreRejected", f"{doing}: {error.code} (HTTP {status})")
    return StoreUnavailable(f"{doing}: {error.code}")


@contextlib.contextmanager
def _errors(doing: str) -> Iterator[None]:
    """Raise whatever the client raises inside as a :class:`StoreError` naming ``doing``."""
    try:
        yield
    except S3Error as e:
        raise translate(e, doing) from e
    except (urllib3.exceptions.HTTPError, OSError) as e:
        raise StoreUnavailable(f"{doing}: {e}") from e


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
    """How long to wait and how often to retry: seconds to connect and between bytes read, urllib3
    retries (connection errors and 5xx, backoff ``backoff`` seconds doubling), and pooled connections."""

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


class ObjectStore:
    """Objects in any bucket of one store. Every method raises only :class:`StoreError` subtypes."""

    #: Bytes per part of a multipart upload (S3's minimum part is 5 MiB).
    PART_SIZE = 8 * 1024 * 1024
    #: Bytes read from a response at a time.
    CHUNK = 1024 * 1024

    def __init__(self, endpoint: Endpoint, tuning: Tuning = Tuning()):
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=tuning.connect, read=tuning.read), maxsize=tuning.pool_size,
            retries=urllib3.Retry(total=tuning.retries, backoff_factor=tuning.backoff,
                                  status_forcelist=RETRY_STATUSES))
        self._client = Minio(endpoint.host, access_key=endpoint.access_key, secret_key=endpoint.secret_key,
                             secure=endpoint.secure, region=endpoint.region, http_client=http)

    def put(self, bucket: str, key: str, data: BinaryIO, length: int, content_type: str) -> None:
        """Write ``length`` bytes read from ``data`` to ``bucket/key``.

        Large files go up as a multipart upload one :attr:`PART_SIZE` part at a time: the minio
        client holds every part of a parallel upload in memory, so one thread keeps memory bounded.
        """
        with _errors(f"writing s3://{bucket}/{key}"):
            self._client.put_object(bucket, key, data, length, content_type=content_type,
                                    part_size=self.PART_SIZE, num_parallel_uploads=1)

    def stat(self, bucket: str, key: str) -> ObjectInfo:
        """The object's metadata, without reading it."""
        with _errors(f"reading s3://{bucket}/{key}"):
            info = self._client.stat_object(bucket, key)
        return ObjectInfo(info.etag or "", info.size or 0, info.content_type or "application/octet-stream")

    def open(self, bucket: str, key: str) -> tuple[urllib3.BaseHTTPResponse, ObjectInfo]:
        """Stream ``bucket/key``: (the urllib3 response, which the caller reads and closes; its metadata)."""
        with _errors(f"reading s3://{bucket}/{key}"):
            response = self._client.get_object(bucket, key)
        headers = response.headers
        return response, ObjectInfo(headers.get("ETag", "").strip('"'), int(headers.get("Content-Length", 0)),
                                    headers.get("Content-Type", "application/octet-stream"))

    def copy_to(self, bucket: str, key: str, into: BinaryIO, max_bytes: int) -> int:
        """Copy ``bucket/key`` into the file ``into``; returns its size in bytes.

        Raises :class:`ObjectTooLarge` past ``max_bytes``, decided from the object's size before
        reading when the store gives it, and while streaming in any case.
        """
        doing = f"reading s3://{bucket}/{key}"
        with _errors(doing):
            size = self._client.stat_object(bucket, key).size
            if size is not None and size > max_bytes:
                raise ObjectTooLarge(size, max_bytes)
            response = self._client.get_object(bucket, key)
            try:
                total = 0
                for chunk in response.stream(self.CHUNK):
                    total += len(chunk)
                    if total > max_bytes:
                        raise ObjectTooLarge(None, max_bytes)
                    into.write(chunk)
                return total
            finally:
                response.close()
                response.release_conn()

    def remove(self, bucket: str, key: str) -> None:
        """Delete ``bucket/key``; one that does not exist (or whose bucket does not) is already gone."""
        with contextlib.suppress(ObjectMissing), _errors(f"removing s3://{bucket}/{key}"):
            self._client.remove_object(bucket, key)

    def ensure_bucket(self, bucket: str, create: bool = False) -> None:
        """Check that ``bucket`` answers; when it does not exist, create it if ``create``, else raise
        :class:`ObjectMissing`."""
        with _errors(f"checking bucket {bucket}"):
            if self._client.bucket_exists(bucket):
                return
            if not create:
                raise ObjectMissing(f"bucket {bucket!r} does not exist", bucket_missing=True)
            self._client.make_bucket(bucket)
