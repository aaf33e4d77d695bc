"""The resizer's S3 access through the ``minio`` client, with errors as types."""

from __future__ import annotations

import io
from typing import BinaryIO

import urllib3
from minio import Minio
from minio.error import S3Error

from .errors import ImageRejected, SourceMissing, StoreUnavailable
from .settings import ResizerSettings

_CHUNK = 1024 * 1024
_MISSING = ("NoSuchKey", "NoSuchBucket", "NoSuchObject")


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
        ``FileTooLarge`` (over ``max_bytes``, checked before reading) or
        :class:`StoreUnavailable`.
        """
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
            raise StoreUnavailable(f"reading s3://{bucket}/{key}: {e.code}") from e
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise StoreUnavailable(f"reading s3://{bucket}/{key}: {e}") from e

    def upload(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        """Write ``data`` to ``bucket/key``; raises :class:`StoreUnavailable`."""
        try:
            self._client.put_object(bucket, key, io.BytesIO(data), len(data), content_type=content_type)
        except (S3Error, urllib3.exceptions.HTTPError, OSError) as e:
            raise StoreUnavailable(f"writing s3://{bucket}/{key}: {e}") from e

    def remove(self, bucket: str, key: str) -> None:
        """Delete ``bucket/key`` if it exists; raises :class:`StoreUnavailable`."""
        try:
            self._client.remove_object(bucket, key)
        except S3Error as e:
            if e.code not in _MISSING:
                raise StoreUnavailable(f"removing s3://{bucket}/{key}: {e.code}") from e
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise StoreUnavailable(f"removing s3://{bucket}/{key}: {e}") from e
