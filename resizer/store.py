"""The resizer's S3 access through the ``minio`` client, with errors as types."""

from __future__ import annotations

import io
from typing import BinaryIO

import urllib3
from minio import Minio
from minio.error import S3Error
from minio.helpers import check_bucket_name, check_object_name

from .errors import ImageRejected, SourceMissing, StoreRefused, StoreUnavailable
from .settings import ResizerSettings

_CHUNK = 1024 * 1024
_MISSING = ("NoSuchKey", "NoSuchBucket", "NoSuchObject")
#: S3 error codes that mean the server refuses the name itself (AWS, MinIO): permanent, not an outage.
_BAD_KEY = ("InvalidObjectName", "XMinioInvalidObjectName", "KeyTooLongError", "XMinioObjectNameTooLong")
_BAD_BUCKET = ("InvalidBucketName", "XMinioInvalidBucketName")
#: 4xx answers that are still worth retrying: a timeout, a conflict with a concurrent write, throttling.
_RETRYABLE_4XX = (408, 409, 429)


def refused_or_unavailable(e: S3Error, doing: str) -> Exception:
    """The exception for an S3 error answer to ``doing`` (e.g. ``"reading s3://b/k"``).

    An HTTP 401/403 is :class:`StoreRefused` ``StoreAccessDenied``, any other 4xx
    but 408/409/429 is :class:`StoreRefused` ``StoreRejected`` (the same request
    gets the same answer: permanent), and everything else (5xx, throttling) is
    :class:`StoreUnavailable` (retryable).
    """
    status = getattr(e.response, "status", None) or 0
    if status in (401, 403):
        return StoreRefused("StoreAccessDenied", f"{doing}: {e.code} (check the credentials and the bucket policy)")
    if 400 <= status < 500 and status not in _RETRYABLE_4XX:
        return StoreRefused("StoreRejected", f"{doing}: {e.code} (HTTP {status})")
    return StoreUnavailable(f"{doing}: {e.code}")


def check_source(bucket: str, key: str) -> None:
    """Refuse a source ``bucket``/``key`` that the S3 client would refuse, before any request.

    Applies the ``minio`` client's own checks (``check_bucket_name``,
    ``check_object_name``): a key that is blank or has a ``.`` or ``..`` path
    segment, a bucket name that is not 3-63 lowercase letters, digits, ``.``
    and ``-``, looks like an IP address, or has ``..``, ``.-`` or ``-.``.
    The CRD refuses the same keys and buckets; this covers the environment
    variables set any other way. Raises :class:`ImageRejected` with reason
    ``InvalidSourceBucket`` or ``InvalidSourceKey`` (permanent, exit 65).
    """
    try:
        check_bucket_name(bucket)
    except ValueError as e:
        raise ImageRejected("InvalidSourceBucket", f"{_quote(bucket)} is not a valid S3 bucket name: {e}") from None
    try:
        check_object_name(key)
    except ValueError as e:
        why = str(e) or "it is empty or blank"
        raise ImageRejected("InvalidSourceKey", f"{_quote(key)} is not a usable S3 object key: {why}") from None


def _quote(name: str, limit: int = 200) -> str:
    """``name`` as a one-line quoted string, cut to ``limit`` characters (it goes into a status message)."""
    text = repr(name[:limit])
    return text if len(name) <= limit else text + "..."


class ObjectStore:
    """Download and upload objects; maps failures to :mod:`resizer.errors` types."""

    def __init__(self, settings: ResizerSettings):
        # Few, short retries: the Job's backoffLimit is the real retry loop.
        http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=5, read=60),
                                   retries=urllib3.Retry(total=2, backoff_factor=0.5,
                                                         status_forcelist=(500, 502, 503, 504)))
        self._client = Minio(settings.endpoint, access_key=settings.access_key, secret_key=settings.secret_key,
                             secure=settings.secure, region=settings.region, http_client=http)

    def download(self, bucket: str, key: str, into: BinaryIO, max_bytes: int) -> int:
        """Copy ``bucket/key`` into ``into``; returns its size in bytes.

        Raises :class:`SourceMissing` (no such object), :class:`ImageRejected`
        ``FileTooLarge`` (over ``max_bytes``, checked before reading),
        ``InvalidSourceKey`` / ``InvalidSourceBucket`` (a name the client or the
        server refuses; see :func:`check_source`) or :class:`StoreUnavailable`.
        """
        check_source(bucket, key)
        try:
            stat = self._client.stat_object(bucket, key)
            if stat.size is not None and stat.size > max_bytes:
                raise ImageRejected("FileTooLarge", f"the source is {stat.size} bytes, over the limit of "
                                                    f"{max_bytes} bytes")
            response = self._client.get_object(bucket, key)
            try:
                total = 0
                for chunk in response.stream(_CHUNK):
                    total += len(chunk)
                    if total > max_bytes:
                        raise ImageRejected("FileTooLarge", f"the source is over the limit of {max_bytes} bytes")
                    into.write(chunk)
                return total
            finally:
                response.close()
                response.release_conn()
        except S3Error as e:
            if e.code in _MISSING:
                raise SourceMissing(f"s3://{bucket}/{key} does not exist") from e
            if e.code in _BAD_KEY:
                raise ImageRejected("InvalidSourceKey", f"the store refuses the key {_quote(key)} ({e.code})") from e
            if e.code in _BAD_BUCKET:
                raise ImageRejected("InvalidSourceBucket",
                                    f"the store refuses the bucket name {_quote(bucket)} ({e.code})") from e
            raise refused_or_unavailable(e, f"reading s3://{bucket}/{key}") from e
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise StoreUnavailable(f"reading s3://{bucket}/{key}: {e}") from e

    def upload(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        """Write ``data`` to ``bucket/key``; raises :class:`StoreRefused` or :class:`StoreUnavailable`."""
        try:
            self._client.put_object(bucket, key, io.BytesIO(data), len(data), content_type=content_type)
        except S3Error as e:
            raise refused_or_unavailable(e, f"writing s3://{bucket}/{key}") from e
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise StoreUnavailable(f"writing s3://{bucket}/{key}: {e}") from e

    def remove(self, bucket: str, key: str) -> None:
        """Delete ``bucket/key`` if it exists; raises :class:`StoreRefused` or :class:`StoreUnavailable`."""
        try:
            self._client.remove_object(bucket, key)
        except S3Error as e:
            if e.code not in _MISSING:
                raise refused_or_unavailable(e, f"removing s3://{bucket}/{key}") from e
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise StoreUnavailable(f"removing s3://{bucket}/{key}: {e}") from e
