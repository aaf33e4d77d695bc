"""The CRD refuses source keys and buckets the S3 client (or S3) would refuse, on the real API server.

Each case is checked against the resizer's own name check too, so the CRD and
the resizer (which applies the ``minio`` client's rules) cannot drift apart
silently for the names that client refuses.
"""

from __future__ import annotations

import json

import pytest

from thumbnailer.api import ImageRejected
from resizer.store import check_source
from thumbnailer import api

pytestmark = pytest.mark.integration


def apply(cluster, namespace: str, source: dict):
    manifest = {"apiVersion": api.API_VERSION, "kind": api.KIND, "metadata": {"name": "probe"},
                "spec": {"source": source}}
    return cluster.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=json.dumps(manifest),
                           check=False)


@pytest.mark.parametrize("key,message", [
    ("../../etc/passwd", "must not have a '.' or '..' path segment"),
    ("uploads/./cat.jpg", "must not have a '.' or '..' path segment"),
    ("uploads/..", "must not have a '.' or '..' path segment"),
    (".", "must not have a '.' or '..' path segment"),
    ("   ", "must not be blank"),
    ("/uploads/cat.jpg", "must not start with '/' or contain '//'"),
    ("uploads//cat.jpg", "must not start with '/' or contain '//'"),
    ("uploads/cat\u0000.jpg", "must not contain a NUL character"),
    ("\u00e9" * 513, "must be at most 1024 bytes of UTF-8"),  # 513 characters, 1026 bytes
])
def test_a_key_the_store_refuses_is_rejected_with_a_clear_message(cluster, crd, namespace, key, message):
    out = apply(cluster, namespace, {"key": key})
    assert out.returncode != 0
    assert "spec.source.key: Invalid value" in out.stderr and message in out.stderr, out.stderr


@pytest.mark.parametrize("key", ["../../etc/passwd", "uploads/./cat.jpg", "uploads/..", "."])
def test_the_resizer_refuses_the_same_keys(key):
    with pytest.raises(ImageRejected) as e:
        check_source("thumbnails", key)
    assert e.value.reason == "InvalidSourceKey"


@pytest.mark.parametrize("key", ["uploads/cat.jpg", "uploads/..cat.jpg", "a/.hidden/b.png", "ünïcödé/🐱.gif",
                                 "with space.jpg", "\u00e9" * 512])
def test_ordinary_keys_are_accepted(cluster, crd, namespace, key):
    out = apply(cluster, namespace, {"key": key})
    assert out.returncode == 0, out.stderr
    check_source("thumbnails", key)  # and the resizer takes them too


@pytest.mark.parametrize("bucket,message", [
    ("my..bucket", "must not contain '..', '.-' or '-.'"),
    ("my.-bucket", "must not contain '..', '.-' or '-.'"),
    ("192.168.10.1", "must not be formatted as an IP address"),
    ("photos-s3alias", "reserved by S3"),
    ("photos--ol-s3", "reserved by S3"),
])
def test_a_bucket_the_store_refuses_is_rejected(cluster, crd, namespace, bucket, message):
    out = apply(cluster, namespace, {"key": "uploads/cat.jpg", "bucket": bucket})
    assert out.returncode != 0
    assert "spec.source.bucket: Invalid value" in out.stderr and message in out.stderr, out.stderr
    with pytest.raises(ImageRejected) as e:  # the resizer refuses every one of them as well
        check_source(bucket, "uploads/cat.jpg")
    assert e.value.reason == "InvalidSourceBucket"


def test_the_crd_is_stricter_than_the_client_on_legacy_bucket_names(cluster, crd, namespace):
    # The client still reads legacy us-east-1 names (upper case, '_'); the CRD takes today's rules only.
    for bucket in ("Photos", "my_photos"):
        out = apply(cluster, namespace, {"key": "uploads/cat.jpg", "bucket": bucket})
        assert out.returncode != 0 and "spec.source.bucket: Invalid value" in out.stderr, out.stderr
        assert "should match '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$'" in out.stderr, out.stderr


@pytest.mark.parametrize("bucket", ["thumbnails", "my.bucket-2", "a1b"])
def test_ordinary_buckets_are_accepted(cluster, crd, namespace, bucket):
    out = apply(cluster, namespace, {"key": "uploads/cat.jpg", "bucket": bucket})
    assert out.returncode == 0, out.stderr
    check_source(bucket, "uploads/cat.jpg")
