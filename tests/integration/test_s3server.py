"""The local S3 server is a real S3 endpoint for the minio client."""

import io

import pytest
from minio.error import S3Error

pytestmark = pytest.mark.integration


def test_objects_round_trip_through_the_bucket(cluster):
    s3 = cluster.s3.client()
    payload = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 100
    s3.put_object(cluster.s3.bucket, "uploads/probe.png", io.BytesIO(payload), len(payload),
                  content_type="image/png")
    stat = s3.stat_object(cluster.s3.bucket, "uploads/probe.png")
    assert stat.size == len(payload) and stat.content_type == "image/png"
    assert s3.get_object(cluster.s3.bucket, "uploads/probe.png").read() == payload


def test_wrong_credentials_are_refused(cluster):
    from minio import Minio

    # An unknown access key is refused (versitygw answers 404 XAdminUserNotFound).
    stranger = Minio(cluster.s3.endpoint, access_key="nobody", secret_key="wrong-secret", secure=False)
    with pytest.raises(S3Error):
        next(stranger.list_objects(cluster.s3.bucket))
    # The right key with the wrong secret fails the signature check.
    forger = Minio(cluster.s3.endpoint, access_key=cluster.s3.access_key, secret_key="wrong-secret", secure=False)
    with pytest.raises(S3Error) as err:
        next(forger.list_objects(cluster.s3.bucket))
    assert err.value.code == "SignatureDoesNotMatch"


def test_the_secret_is_not_on_the_command_line(cluster):
    """Any local user can read a process's argv (ps); the credentials go in its environment."""
    argv = open(f"/proc/{cluster.s3.process.popen.pid}/cmdline", "rb").read().split(b"\0")
    assert cluster.s3.secret_key.encode() not in argv and cluster.s3.access_key.encode() not in argv
