"""The one S3 error mapping (thumbnailer.objectstore.translate), error answer by error answer."""

from __future__ import annotations

import pytest
from minio.error import S3Error

from thumbnailer.objectstore import (NameRefused, ObjectMissing, StoreRefused, StoreUnavailable, translate)


class Answer:
    """The part of an HTTP response S3Error keeps: its status."""

    def __init__(self, status):
        self.status = status


def s3_error(status: int, code: str) -> S3Error:
    return S3Error(Answer(status), code, "no", "/b/k", "req", "host")  # type: ignore[arg-type]


@pytest.mark.parametrize("status,code", [(404, "NoSuchKey"), (404, "NoSuchBucket"), (404, "NoSuchObject")])
def test_every_spelling_of_missing_is_object_missing(status, code):
    error = translate(s3_error(status, code), "reading s3://b/k")
    assert type(error) is ObjectMissing and str(error) == f"reading s3://b/k: {code}"
    assert error.bucket_missing == (code == "NoSuchBucket")


@pytest.mark.parametrize("status,code,reason", [
    (403, "AccessDenied", "StoreAccessDenied"), (401, "InvalidAccessKeyId", "StoreAccessDenied"),
    (400, "BadRequest", "StoreRejected"), (400, "EntityTooLarge", "StoreRejected"),
])
def test_a_lasting_refusal_has_a_reason(status, code, reason):
    error = translate(s3_error(status, code), "writing s3://b/k")
    assert type(error) is StoreRefused and error.reason == reason and code in error.message


@pytest.mark.parametrize("code,what", [("XMinioInvalidObjectName", "key"), ("KeyTooLongError", "key"),
                                       ("InvalidBucketName", "bucket")])
def test_a_refused_name_says_which_name(code, what):
    error = translate(s3_error(400, code), "reading s3://b/k")
    assert isinstance(error, NameRefused) and error.what == what and error.code == code
    assert error.reason == "StoreRejected"


@pytest.mark.parametrize("status,code", [(500, "InternalError"), (503, "SlowDown"), (429, "SlowDown"),
                                         (408, "RequestTimeout"), (409, "OperationAborted")])
def test_outages_and_throttling_are_worth_retrying(status, code):
    assert type(translate(s3_error(status, code), "x")) is StoreUnavailable
