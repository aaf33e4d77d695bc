"""The resizer's failure mapping: every error becomes a reason, an exit code and one line, never a traceback."""

from __future__ import annotations

import io
import logging

import pytest
from obstore.exceptions import GenericError
from PIL import Image

import resizer.__main__ as program
from thumbnailer.api import EXIT_BAD_IMAGE, EXIT_CONFIG, EXIT_INTERNAL, EXIT_RETRYABLE, PERMANENT_EXIT_CODES, ImageRejected
from resizer.settings import ResizerSettings, SettingsError
from resizer.store import ResizerStore, check_source
from resizer.thumbnail import ThumbnailSpec, make_thumbnail
from thumbnail_operator.status import parse_termination_message

ENV = {"S3_ENDPOINT": "127.0.0.1:9", "S3_ACCESS_KEY": "a", "S3_SECRET_KEY": "s", "SOURCE_BUCKET": "thumbs",
       "SOURCE_KEY": "uploads/cat.jpg", "OUTPUT_KEY": "thumbnails/ns/cat"}


def run_main(monkeypatch, tmp_path, **env: str) -> tuple[int, str]:
    path = tmp_path / "termination-log"
    for name, value in {**ENV, "TERMINATION_MESSAGE_PATH": str(path), **env}.items():
        monkeypatch.setenv(name, value)
    code = program.main()
    return code, path.read_text()


@pytest.mark.parametrize("key", ["../../etc/passwd", "uploads/./cat.jpg", "uploads/..", "a/../../b"])
def test_a_dot_segment_key_is_a_permanent_invalid_source_key(monkeypatch, tmp_path, key):
    # The endpoint is a closed port: the key is refused before any request (else this would be 75).
    code, message = run_main(monkeypatch, tmp_path, SOURCE_KEY=key)
    assert code == EXIT_BAD_IMAGE and code in PERMANENT_EXIT_CODES
    assert message == (f"InvalidSourceKey: {key!r} is not a usable S3 object key: object name with '.' or '..' "
                       "path segment is not supported")
    assert parse_termination_message(message)[0] == "InvalidSourceKey"


def test_a_bucket_name_the_client_refuses_is_a_permanent_invalid_source_bucket(monkeypatch, tmp_path):
    code, message = run_main(monkeypatch, tmp_path, SOURCE_BUCKET="10.0.0.1")
    assert code == EXIT_BAD_IMAGE
    assert message.startswith("InvalidSourceBucket: '10.0.0.1' is not a valid S3 bucket name: ")


def test_check_source_names_a_long_key_in_one_cut_line():
    with pytest.raises(ImageRejected) as e:
        check_source("thumbs", "../" + "x\n" * 500)
    assert e.value.reason == "InvalidSourceKey" and "\n" not in e.value.message and len(e.value.message) < 400


def s3_error(code: str, status: int = 400) -> GenericError:
    """What obstore raises for an S3 error answer (the message of object_store's RetryError)."""
    return GenericError(f"Generic S3 error: Error performing GET http://127.0.0.1:9/thumbs/k in 1ms - Server returned "
                        f"non-2xx status code: {status} Whatever: <?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                        f"<Error><Code>{code}</Code><Message>no</Message></Error>\n\nDebug source:\nGeneric {{")


@pytest.mark.parametrize("code,reason", [
    ("XMinioInvalidObjectName", "InvalidSourceKey"), ("InvalidObjectName", "InvalidSourceKey"),
    ("KeyTooLongError", "InvalidSourceKey"), ("InvalidBucketName", "InvalidSourceBucket"),
])
def test_the_servers_refusal_of_a_name_is_permanent_not_an_outage(monkeypatch, code, reason):
    store = ResizerStore(ResizerSettings.from_env(ENV))

    def refuse(*args, **kwargs):
        raise s3_error(code)

    monkeypatch.setattr("resizer.s3.obstore.get", refuse)
    with pytest.raises(ImageRejected) as e:
        store.download("thumbs", "uploads/cat.jpg", io.BytesIO(), 100)
    assert e.value.reason == reason and code in e.value.message


@pytest.mark.parametrize("status,code,outcome", [
    (400, "BadRequest", "StoreRejected"), (403, "AccessDenied", "StoreAccessDenied"),
    (401, "InvalidAccessKeyId", "StoreAccessDenied"), (429, "SlowDown", None), (503, "ServiceUnavailable", None),
    (500, "InternalError", None),
])
def test_a_store_refusal_is_permanent_and_an_outage_is_retried(monkeypatch, tmp_path, status, code, outcome):
    def refuse(*args, **kwargs):
        raise s3_error(code, status)

    monkeypatch.setattr("resizer.s3.obstore.get", refuse)
    exit_code, message = run_main(monkeypatch, tmp_path)
    if outcome is None:
        assert exit_code == EXIT_RETRYABLE and message == f"StoreUnavailable: reading s3://thumbs/uploads/cat.jpg: {code}"
    else:
        assert exit_code == EXIT_CONFIG and message.startswith(f"{outcome}: reading s3://thumbs/uploads/cat.jpg: {code}")


@pytest.mark.parametrize("error", [
    ValueError("object name with '.' or '..' path segment is not supported"),
    KeyError("JPEG"),
    RuntimeError("line one\n  File \"/tmp/x/resizer/store.py\", line 38\nline three"),
    AssertionError(),
])
def test_an_unexpected_exception_is_one_line_and_exit_70(monkeypatch, tmp_path, caplog, error):
    def crash(settings, hard_cpu_limit=False):
        raise error

    monkeypatch.setattr(program, "run", crash)
    with caplog.at_level(logging.ERROR, logger="resizer"):
        code, message = run_main(monkeypatch, tmp_path)
    assert code == EXIT_INTERNAL == 70 and code in PERMANENT_EXIT_CODES
    assert message == program.internal_error_message(error)
    assert message.startswith(f"InternalError: {type(error).__name__}") and "\n" not in message
    assert "Traceback" not in message
    assert parse_termination_message(message)[0] == "InternalError"
    # The traceback is in the log (stderr, for kubectl logs), not in the message.
    assert any(r.exc_info and r.exc_info[1] is error for r in caplog.records)


def test_internal_error_messages():
    assert program.internal_error_message(KeyError("JPEG")) == "InternalError: KeyError: 'JPEG'"
    assert program.internal_error_message(AssertionError()) == "InternalError: AssertionError"
    assert program.internal_error_message(ValueError("a\n\n  b")) == "InternalError: ValueError: a b"
    assert len(program.internal_error_message(ValueError("x" * 5000))) == program.MAX_MESSAGE


def test_the_store_outage_stays_retryable(monkeypatch, tmp_path):
    code, message = run_main(monkeypatch, tmp_path)  # 127.0.0.1:9: nothing listens
    assert code == EXIT_RETRYABLE and message.startswith("StoreUnavailable: ") and "\n" not in message


def gif(frames: int, size=(16, 16)) -> io.BytesIO:
    images = [Image.new("RGB", size, ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256)) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=20, loop=0)
    out.seek(0)
    return out


def test_an_animation_over_the_cap_keeps_its_first_frames_and_says_how_many_it_had():
    out = make_thumbnail(gif(300))
    assert (out.format, out.content_type, out.frames, out.source_frames) == ("gif", "image/gif", 200, 300)
    shown = Image.open(io.BytesIO(out.data))
    durations = []
    for i in range(shown.n_frames):
        shown.seek(i)
        durations.append(shown.info["duration"])
    # Still animated, and it plays the first 200 frames' time (Pillow merges frames that quantise alike).
    assert shown.n_frames > 100 and sum(durations) == 200 * 20
    whole = make_thumbnail(gif(3))
    assert (whole.frames, whole.source_frames) == (3, 3)


def test_a_jpeg_of_an_animation_is_a_still_of_its_first_frame_not_a_crash():
    # Pillow has no multi-frame JPEG writer: this used to raise KeyError('JPEG') (an unhandled crash).
    out = make_thumbnail(gif(5), ThumbnailSpec(format="jpeg"))
    assert (out.format, out.frames, out.source_frames) == ("jpeg", 1, 5)
    assert Image.open(io.BytesIO(out.data)).format == "JPEG"


def test_object_keys_are_taken_exactly_with_their_spaces():
    settings = ResizerSettings.from_env({**ENV, "SOURCE_KEY": " cat.jpg ", "OUTPUT_KEY": "thumbs/ cat.jpg",
                                         "PREVIOUS_OUTPUT_KEY": "old .png"})
    assert (settings.source_key, settings.output_key, settings.previous_output_key) == \
        (" cat.jpg ", "thumbs/ cat.jpg", "old .png")
    with pytest.raises(SettingsError, match="SOURCE_KEY is required"):
        ResizerSettings.from_env({**ENV, "SOURCE_KEY": "   "})


@pytest.mark.parametrize("bucket", ["thumbs", "a.b-c", "ab", "a" * 64, "Photos", "my_bucket", "a:b", "my..bucket",
                                    "my.-bucket", "my-.bucket", "192.168.10.1", "999.1.1.1", "photos-s3alias",
                                    "photos--ol-s3", "xn--photos", "-photos", "photos-", ""])
def test_the_resizer_refuses_exactly_the_bucket_names_the_uploaders_minio_client_refuses(bucket):
    """The resizer has no minio (resizer/s3.py); its bucket check keeps minio-py's rules (check_bucket_name)."""
    from minio.helpers import check_bucket_name
    try:
        check_bucket_name(bucket)
        minio_refuses = False
    except ValueError:
        minio_refuses = True
    try:
        check_source(bucket, "uploads/cat.jpg")
        ours_refuses = False
    except ImageRejected as e:
        assert e.reason == "InvalidSourceBucket"
        ours_refuses = True
    assert ours_refuses == minio_refuses
