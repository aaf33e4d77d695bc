"""The resizer's S3 client: :class:`PodStore`, over ``obstore`` (Python bindings of the Rust
``object_store`` crate, the S3 client of Apache Arrow and DataFusion).

Why not the ``minio`` client the uploader and the operator use: every resizer pod pays its
client's import before its first request, and ``import minio`` costs about 170 ms (its package
imports the admin client, which brings in pycryptodome and argon2, and urllib3 brings ``ssl`` and
``http.client``), against about 12 ms for ``obstore``. The failures come out as the same types
(:mod:`thumbnailer.storetypes`) through the same mapping (:func:`~thumbnailer.storetypes.classify`).

``object_store`` raises typed errors for 404/401/403 only and gives the rest in its message, which
carries the answer's HTTP status (``Server returned non-2xx status code: 400 Bad Request: <body>``)
and the S3 error body; :func:`translate` reads both from there. An error whose message has no
status never got an answer (refused, reset, timed out): :class:`~thumbnailer.storetypes.StoreUnavailable`.
"""

from __future__ import annotations

import contextlib
import re
from datetime import timedelta
from typing import BinaryIO, Iterator

import obstore
from obstore.exceptions import BaseError
from obstore.store import S3Store

from thumbnailer.storetypes import Endpoint, ObjectMissing, ObjectTooLarge, StoreError, StoreUnavailable, Tuning, classify

#: Where ``object_store`` puts the answer's HTTP status in its error message (``client/retry.rs``).
_STATUS = re.compile(r"status code: (\d{3})")
#: The S3 error code of an answer's XML error body.
_CODE = re.compile(r"<Code>([^<]{1,100})</Code>")


def translate(error: Exception, doing: str) -> StoreError:
    """The :class:`~thumbnailer.storetypes.StoreError` for ``obstore``'s ``error`` while ``doing``
    (``"reading s3://b/k"``)."""
    text = str(error)
    status = _STATUS.search(text)
    if status is None:
        return StoreUnavailable(f"{doing}: {text.splitlines()[0] if text else type(error).__name__}")
    code = _CODE.search(text)
    return classify(code.group(1) if code else "", int(status.group(1)), doing)


@contextlib.contextmanager
def _errors(doing: str) -> Iterator[None]:
    """Raise whatever the client raises inside as a :class:`~thumbnailer.storetypes.StoreError`."""
    try:
        yield
    except (BaseError, OSError) as e:  # obstore's NotFoundError is also a FileNotFoundError
        raise translate(e, doing) from e


class PodStore:
    """Objects in any bucket of one store, for one resizer pod; every method raises only
    :class:`~thumbnailer.storetypes.StoreError` subtypes. Path-style requests (as MinIO, versitygw
    and Ceph expect; AWS still answers them)."""

    #: Bytes read from a response at a time.
    CHUNK = 1024 * 1024

    def __init__(self, endpoint: Endpoint, tuning: Tuning | None = None):
        tuning = tuning or Tuning()
        self._endpoint = endpoint
        self._options = {"allow_http": not endpoint.secure, "connect_timeout": timedelta(seconds=tuning.connect),
                         "timeout": timedelta(seconds=tuning.read), "pool_max_idle_per_host": str(tuning.pool_size)}
        self._retry = {"max_retries": tuning.retries, "retry_timeout": timedelta(seconds=tuning.read),
                       "backoff": {"init_backoff": timedelta(seconds=tuning.backoff),
                                   "max_backoff": timedelta(seconds=tuning.backoff * 8), "base": 2}}
        self._stores: dict[str, S3Store] = {}

    def _store(self, bucket: str) -> S3Store:
        """The client of ``bucket`` (``object_store`` binds a client to one bucket)."""
        if bucket not in self._stores:
            e = self._endpoint
            self._stores[bucket] = S3Store(
                bucket, endpoint=f"{'https' if e.secure else 'http'}://{e.host}", region=e.region,
                access_key_id=e.access_key, secret_access_key=e.secret_key, virtual_hosted_style_request=False,
                client_options=self._options, retry_config=self._retry)
        return self._stores[bucket]

    def copy_to(self, bucket: str, key: str, into: BinaryIO, max_bytes: int) -> int:
        """Copy ``bucket/key`` into the file ``into``; returns its size in bytes.

        One ``GET``: raises :class:`~thumbnailer.storetypes.ObjectTooLarge` past ``max_bytes``,
        decided from the answer's size before its body is read, and while streaming in any case.
        """
        with _errors(f"reading s3://{bucket}/{key}"):
            result = obstore.get(self._store(bucket), key)
            size = result.meta["size"]
            if size > max_bytes:
                raise ObjectTooLarge(size, max_bytes)
            total = 0
            for chunk in result.stream(min_chunk_size=self.CHUNK):
                total += len(chunk)
                if total > max_bytes:
                    raise ObjectTooLarge(None, max_bytes)
                into.write(chunk)
            return total

    def put(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        """Write ``data`` to ``bucket/key`` with its ``Content-Type`` (one ``PUT``: a thumbnail is small)."""
        with _errors(f"writing s3://{bucket}/{key}"):
            obstore.put(self._store(bucket), key, data, attributes={"Content-Type": content_type})

    def remove(self, bucket: str, key: str) -> None:
        """Delete ``bucket/key``; one that does not exist (or whose bucket does not) is already gone."""
        with contextlib.suppress(ObjectMissing), _errors(f"removing s3://{bucket}/{key}"):
            obstore.delete(self._store(bucket), key)

    def bucket_exists(self, bucket: str) -> bool:
        """Whether ``bucket`` exists (a one-key listing: ``object_store`` has no ``HeadBucket``)."""
        try:
            with _errors(f"checking bucket {bucket}"):
                next(iter(obstore.list(self._store(bucket), chunk_size=1)), None)
        except ObjectMissing as e:
            if e.bucket_missing:
                return False
            raise
        return True
