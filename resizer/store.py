"""What the resizer means by each store failure, over its client :mod:`resizer.s3` and the shared types of
:mod:`thumbnailer.storetypes`.

Reading the source: a missing object is :class:`SourceMissing` (``SourceNotFound``), a name the
client or the server refuses is ``InvalidSourceKey`` / ``InvalidSourceBucket``, a source over the
byte limit ``FileTooLarge``. Writing the thumbnail: a missing output bucket is ``StoreRejected``
(the configuration is wrong; retrying cannot help). Everything else is the layer's
:class:`~thumbnailer.storetypes.StoreRefused` (exit 78) or
:class:`~thumbnailer.storetypes.StoreUnavailable` (exit 75, retried).
"""

from __future__ import annotations

import re
from typing import BinaryIO

from thumbnailer.api import ImageRejected
from thumbnailer.storetypes import Endpoint, NameRefused, ObjectMissing, ObjectTooLarge, StoreError, StoreRefused, Tuning

from .s3 import PodStore
from .settings import ResizerSettings

#: Few, short retries: the Job's backoffLimit is the real retry loop.
TUNING = Tuning(connect=5, read=60, retries=2, backoff=0.5, pool_size=2)


#: The bucket names S3 clients accept (minio-py's ``helpers.check_bucket_name``, the rules of AWS's
#: "Bucket naming rules" before 2018, which MinIO and Ceph still take): 3-63 characters.
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-:]{1,61}[a-z0-9]$", re.IGNORECASE)
_IPV4 = re.compile(r"^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])\.){3}"
                   r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])$")


class SourceMissing(Exception):
    """The source object does not exist in the store (permanent: ``SourceNotFound``)."""


def check_source(bucket: str, key: str) -> None:
    """Refuse a source ``bucket``/``key`` that the S3 client would refuse, before any request.

    The checks of the ``minio`` client (``check_bucket_name``, ``check_object_name``), which
    the uploader's requests pass through: a key that is blank or has a ``.`` or ``..`` path
    segment, a bucket name that is not 3-63 letters, digits, ``.``, ``-``, ``_`` or ``:``, looks
    like an IP address, has ``..``, ``.-`` or ``-.``, or ends with a suffix S3 reserves
    (``-s3alias``, ``--ol-s3``).
    The CRD refuses the same keys and buckets; this covers the environment
    variables set any other way. Raises :class:`ImageRejected` with reason
    ``InvalidSourceBucket`` or ``InvalidSourceKey`` (permanent, exit 65).
    """
    why = _bucket_name_problem(bucket)
    if why:
        raise ImageRejected("InvalidSourceBucket", f"{_quote(bucket)} is not a valid S3 bucket name: {why}")
    why = _key_problem(key)
    if why:
        raise ImageRejected("InvalidSourceKey", f"{_quote(key)} is not a usable S3 object key: {why}")


def _bucket_name_problem(bucket: str) -> str | None:
    """What is wrong with ``bucket`` as a bucket name, or None."""
    if not _BUCKET_NAME.match(bucket):
        return "it must be 3-63 letters, digits, '.', '-', '_' or ':', starting and ending with a letter or digit"
    if _IPV4.match(bucket):
        return "it must not be formatted as an IP address"
    if any(pair in bucket for pair in ("..", ".-", "-.")):
        return "it contains '..', '.-' or '-.'"
    if bucket.endswith(("-s3alias", "--ol-s3")):
        return "the suffixes '-s3alias' and '--ol-s3' are reserved by S3"
    return None


def _key_problem(key: str) -> str | None:
    """What is wrong with ``key`` as an object key, or None."""
    if not key.strip():
        return "it is empty or blank"
    if {".", ".."} & set(key.split("/")):
        return "object name with '.' or '..' path segment is not supported"
    return None


def _quote(name: str, limit: int = 200) -> str:
    """``name`` as a one-line quoted string, cut to ``limit`` characters (it goes into a status message)."""
    text = repr(name[:limit])
    return text if len(name) <= limit else text + "..."


class ResizerStore:
    """Download the source, upload the thumbnail, remove a previous generation's thumbnail."""

    def __init__(self, settings: ResizerSettings):
        self._store = PodStore(Endpoint(settings.endpoint, settings.access_key, settings.secret_key,
                                           settings.secure, settings.region), TUNING)

    def download(self, bucket: str, key: str, into: BinaryIO, max_bytes: int) -> int:
        """Copy ``bucket/key`` into ``into``; returns its size in bytes.

        Raises :class:`SourceMissing` (no such object), :class:`ImageRejected`
        ``FileTooLarge`` (over ``max_bytes``, checked before reading),
        ``InvalidSourceKey`` / ``InvalidSourceBucket`` (a name the client or the
        server refuses; see :func:`check_source`), or a
        :class:`~thumbnailer.storetypes.StoreError` (refused or unavailable).
        """
        check_source(bucket, key)
        try:
            return self._store.copy_to(bucket, key, into, max_bytes)
        except ObjectMissing as e:
            raise SourceMissing(f"s3://{bucket}/{key} does not exist" + (
                f": there is no bucket {bucket!r} in the store" if self._bucket_missing(bucket, e) else "")) from e
        except ObjectTooLarge as e:
            raise ImageRejected("FileTooLarge", f"the source is {e.size} bytes, over the limit of {max_bytes} bytes"
                                if e.size is not None else f"the source is over the limit of {max_bytes} bytes") from e
        except NameRefused as e:
            if e.what == "key":
                raise ImageRejected("InvalidSourceKey", f"the store refuses the key {_quote(key)} ({e.code})") from e
            raise ImageRejected("InvalidSourceBucket",
                                f"the store refuses the bucket name {_quote(bucket)} ({e.code})") from e

    def _bucket_missing(self, bucket: str, error: ObjectMissing) -> bool:
        """Whether ``error`` (a source not found) is because ``bucket`` does not exist: the answer
        says so (``NoSuchBucket``), or, for a store whose 404 has no body, the bucket is asked about."""
        if error.bucket_missing:
            return True
        if error.code:  # the answer named what is missing: the object (NoSuchKey)
            return False
        try:
            return not self._store.bucket_exists(bucket)
        except StoreError:  # unknown: the message stays the plain one
            return False

    def upload(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        """Write ``data`` to ``bucket/key``; raises a :class:`~thumbnailer.storetypes.StoreError`
        (a missing bucket is :class:`StoreRefused` ``StoreRejected``)."""
        try:
            self._store.put(bucket, key, data, content_type)
        except ObjectMissing as e:
            raise StoreRefused("StoreRejected", f"{e} (the output bucket does not exist)") from e

    def remove(self, bucket: str, key: str) -> None:
        """Delete ``bucket/key`` if it exists; raises a :class:`~thumbnailer.storetypes.StoreError`."""
        self._store.remove(bucket, key)
