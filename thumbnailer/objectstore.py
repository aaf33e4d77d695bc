"""The uploader's and the operator's S3 client: :class:`ObjectStore`, over ``minio`` (a well-kept S3
client that speaks to AWS, MinIO, versitygw and Ceph alike). Every failure comes out as one of the
types of :mod:`thumbnailer.storetypes`, through its one mapping :func:`~thumbnailer.storetypes.classify`.
Each component chooses its own timeouts and retries (:class:`~thumbnailer.storetypes.Tuning`), since
an API request and a cleanup wait differently. (The resizer's pods use :mod:`resizer.s3`, whose
client imports in a tenth of the time.)
"""

from __future__ import annotations

import contextlib
from typing import BinaryIO, Iterator

import urllib3
from minio import Minio
from minio.error import S3Error

from .storetypes import Endpoint, ObjectInfo, ObjectMissing, StoreError, StoreUnavailable, Tuning, classify

#: HTTP statuses urllib3 retries itself (``Tuning.retries`` times).
RETRY_STATUSES = (500, 502, 503, 504)


def translate(error: S3Error, doing: str) -> StoreError:
    """The :class:`~thumbnailer.storetypes.StoreError` for minio's ``error`` answering ``doing``."""
    return classify(error.code or "", getattr(error.response, "status", None) or 0, doing)


@contextlib.contextmanager
def _errors(doing: str) -> Iterator[None]:
    """Raise whatever the client raises inside as a :class:`StoreError` naming ``doing``."""
    try:
        yield
    except S3Error as e:
        raise translate(e, doing) from e
    except (urllib3.exceptions.HTTPError, OSError) as e:
        raise StoreUnavailable(f"{doing}: {e}") from e


class ObjectStore:
    """Objects in any bucket of one store. Every method raises only :class:`StoreError` subtypes."""

    #: Bytes per part of a multipart upload (S3's minimum part is 5 MiB).
    PART_SIZE = 8 * 1024 * 1024

    def __init__(self, endpoint: Endpoint, tuning: Tuning | None = None):
        tuning = tuning or Tuning()
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
