"""The one S3 error mapping (thumbnailer.storetypes.classify), error answer by error answer, as each
client's errors reach it: minio's S3Error (thumbnailer.objectstore) and obstore's (resizer.s3)."""

from __future__ import annotations

import pytest
from minio.error import S3Error
from obstore.exceptions import GenericError, NotFoundError

import resizer.s3
import thumbnailer.objectstore
from thumbnailer.storetypes import NameRefused, ObjectMissing, StoreRefused, StoreUnavailable


class Answer:
    """The part of an HTTP response S3Error keeps: its status."""

    def __init__(self, status):
        self.status = status


def obstore_message(status: int, code: str) -> str:
    """object_store's message for an S3 error answer (as versitygw's answers gave it, obstore 0.12)."""
    return (f"Generic S3 error: Error performing PUT http://127.0.0.1:9/b/k in 531µs - Server returned non-2xx "
            f"status code: {status} Whatever: <?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>"
            f"<Message>no</Message></Error>\n\nDebug source:\nGeneric {{\n    store: \"S3\",")


@pytest.fixture(params=["minio", "obstore"])
def translate(request):
    """translate(status, code, doing) through one client's error type and its translator."""
    if request.param == "minio":
        return lambda status, code, doing: thumbnailer.objectstore.translate(
            S3Error(Answer(status), code, "no", "/b/k", "req", "host"), doing)  # type: ignore[arg-type]
    return lambda status, code, doing: resizer.s3.translate(
        (NotFoundError if status == 404 else GenericError)(obstore_message(status, code)), doing)


@pytest.mark.parametrize("status,code", [(404, "NoSuchKey"), (404, "NoSuchBucket"), (404, "NoSuchObject")])
def test_every_spelling_of_missing_is_object_missing(translate, status, code):
    error = translate(status, code, "reading s3://b/k")
    assert type(error) is ObjectMissing and str(error) == f"reading s3://b/k: {code}"
    assert error.bucket_missing == (code == "NoSuchBucket")


@pytest.mark.parametrize("status,code,reason", [
    (403, "AccessDenied", "StoreAccessDenied"), (401, "InvalidAccessKeyId", "StoreAccessDenied"),
    (400, "BadRequest", "StoreRejected"), (400, "EntityTooLarge", "StoreRejected"),
])
def test_a_lasting_refusal_has_a_reason(translate, status, code, reason):
    error = translate(status, code, "writing s3://b/k")
    assert type(error) is StoreRefused and error.reason == reason and code in error.message


@pytest.mark.parametrize("code,what", [("XMinioInvalidObjectName", "key"), ("KeyTooLongError", "key"),
                                       ("InvalidBucketName", "bucket")])
def test_a_refused_name_says_which_name(translate, code, what):
    error = translate(400, code, "reading s3://b/k")
    assert isinstance(error, NameRefused) and error.what == what and error.code == code
    assert error.reason == "StoreRejected"


@pytest.mark.parametrize("status,code", [(500, "InternalError"), (503, "SlowDown"), (429, "SlowDown"),
                                         (408, "RequestTimeout"), (409, "OperationAborted")])
def test_outages_and_throttling_are_worth_retrying(translate, status, code):
    assert type(translate(status, code, "x")) is StoreUnavailable


def test_obstore_without_an_answer_is_an_outage_in_one_line():
    error = resizer.s3.translate(GenericError(
        "Generic S3 error: Error performing GET http://127.0.0.1:1/b/k in 101ms, after 1 retries - HTTP error: "
        "error sending request\n\nDebug source:\nGeneric {"), "reading s3://b/k")
    assert type(error) is StoreUnavailable and "\n" not in str(error) and "error sending request" in str(error)


def test_a_404_without_a_body_is_object_missing_not_knowing_why():
    error = resizer.s3.translate(NotFoundError(
        "Object at location k not found: Error performing HEAD http://127.0.0.1:9/b/k in 5ms - Server returned "
        "non-2xx status code: 404 Not Found: \n\nDebug source:\nNotFound {"), "reading s3://b/k")
    assert type(error) is ObjectMissing and not error.bucket_missing and str(error) == "reading s3://b/k: HTTP 404"
    assert error.code == ""
