"""The plain modules under the upload API: job IDs, Idempotency-Key rules, the ThumbnailJob manifest,
and the upload operations over fakes of the store and the API server."""

from __future__ import annotations

import io

import pytest

from test_uploader_api import FakeJobs, FakeStore
from thumbnailer import api
from thumbnailer.storetypes import StoreUnavailable
from uploader import manifest
from uploader.idempotency import InvalidKey, KeyReused, check_key, check_same_request
from uploader.intake import Upload
from uploader.jobids import B32HEX, keyed_job_id, new_job_id, plausible_job_id
from uploader.settings import UploaderSettings
from uploader.thumbnailjobs import ClusterUnavailable
from uploader.uploads import JobNotFound, Uploads


def test_new_ids_sort_newest_first_and_differ_within_one_millisecond():
    ids = [new_job_id(1_800_000_000_000 + ms) for ms in range(50)]
    assert ids == sorted(ids, reverse=True)
    same_ms = {new_job_id(1_800_000_000_000) for _ in range(200)}
    assert len(same_ms) == 200
    for job_id in ids:
        assert job_id.startswith("tj-") and len(job_id) == 19 and set(job_id[3:]) <= set(B32HEX)
        assert plausible_job_id(job_id)


def test_a_keyed_id_depends_on_the_key_only():
    assert keyed_job_id("retry-7") == keyed_job_id("retry-7") != keyed_job_id("retry-8")
    assert len(keyed_job_id("x" * 255)) == 19 and plausible_job_id(keyed_job_id("é"))


@pytest.mark.parametrize("name", ["", "Tj-UPPER", "-lead", "trail-", "a/b", "x" * 254, "tj_under"])
def test_names_no_thumbnailjob_can_have_are_not_plausible(name):
    assert not plausible_job_id(name)


def test_the_idempotency_key_is_one_to_255_characters():
    assert check_key(None) is None and check_key("k") == "k" and check_key("k" * 255) == "k" * 255
    for bad in ("", "k" * 256):
        with pytest.raises(InvalidKey):
            check_key(bad)


@pytest.mark.parametrize("bad", ["key-1, key-2", "key-1,key-1", "two words", "caf\u00e9", "tab\there"])
def test_an_idempotency_key_with_a_comma_space_or_non_ascii_character_is_refused(bad):
    # A header given twice arrives joined by a comma: two keys are not one request's key.
    with pytest.raises(InvalidKey):
        check_key(bad)
    assert check_key('"8e03978e-40d5-43e8-bc93-6894a57f9324"') == '"8e03978e-40d5-43e8-bc93-6894a57f9324"'


def previous_job(sha256: str, spec: dict) -> dict:
    return manifest.thumbnailjob("tj-x", "b", "k", sha256, spec)


def test_a_replay_with_the_same_bytes_and_effective_options_is_the_same_request():
    # Defaults filled in: asking for 100x100 cover explicitly is what asking for nothing means.
    check_same_request(previous_job("aa", {}), "aa", {"size": {"width": api.DEFAULT_WIDTH}, "fit": api.DEFAULT_FIT})


def test_other_bytes_or_options_are_another_request_and_the_error_says_which():
    with pytest.raises(KeyReused, match="other bytes"):
        check_same_request(previous_job("aa", {}), "bb", {})
    with pytest.raises(KeyReused, match="width 64, not 100") as e:
        check_same_request(previous_job("aa", {}), "aa", {"size": {"width": 64}})
    assert "height" not in str(e.value)


def test_the_manifest_names_labels_and_points_at_the_source():
    tj = manifest.thumbnailjob("tj-1", "thumbs", "uploads/ns/tj-1.png", "ab" * 32, {"fit": "fill"})
    assert tj["apiVersion"] == api.API_VERSION and tj["kind"] == api.KIND
    assert tj["metadata"] == {"name": "tj-1", "labels": {api.LABEL_CREATED_BY: api.CREATED_BY_UPLOADER},
                              "annotations": {api.ANNOTATION_SHA256: "ab" * 32}}
    assert tj["spec"] == {"source": {"bucket": "thumbs", "key": "uploads/ns/tj-1.png"}, "fit": "fill"}


def test_source_keys_and_their_unique_form():
    assert manifest.source_key("uploads", "ns", "tj-1", "png") == "uploads/ns/tj-1.png"
    a, b = (manifest.source_key("uploads", "ns", "tj-1", "png", unique=True) for _ in range(2))
    assert a != b and a.startswith("uploads/ns/tj-1-") and a.endswith(".png") and len(a) == len("uploads/ns/tj-1-") + 12


def upload(data: bytes = b"\x89PNG...", frames: int = 1) -> Upload:
    return Upload(io.BytesIO(data), len(data), "cd" * 32, "PNG", "image/png", "png", 32, 16, frames)


def uploads(store=None, jobs=None, **settings) -> Uploads:
    return Uploads(UploaderSettings(s3_bucket="thumbs", **settings), store or FakeStore(), jobs or FakeJobs())


def test_accept_stores_first_then_creates_and_a_keyed_retry_replays():
    ops = uploads()
    first = ops.accept(upload(), {"format": "webp"}, "key-1")
    name = first.job["metadata"]["name"]
    assert not first.replayed and name == keyed_job_id("key-1")
    (key,) = ops.store.objects
    assert first.job["spec"]["source"] == {"bucket": "thumbs", "key": key} and key.startswith(f"uploads/media/{name}-")
    again = ops.accept(upload(), {"format": "webp"}, "key-1")
    assert again.replayed and again.job == first.job and len(ops.store.objects) == 1


def test_a_failed_create_removes_the_stored_source():
    ops = uploads(jobs=FakeJobs(fail=True))
    with pytest.raises(ClusterUnavailable):
        ops.accept(upload(), {})
    assert ops.store.objects == {}


def test_a_store_outage_creates_nothing():
    ops = uploads(store=FakeStore(fail=True))
    with pytest.raises(StoreUnavailable):
        ops.accept(upload(), {})
    assert ops.jobs.items == {}


def test_the_output_budget_is_checked_before_anything_is_stored():
    ops = uploads(max_output_pixels=100 * 100 * 10)
    with pytest.raises(api.ImageRejected) as e:
        ops.accept(upload(frames=11), {})
    assert e.value.reason == "OutputTooLarge" and ops.store.objects == {}
    assert ops.accept(upload(frames=11), {"format": "jpeg"}).job  # a still of the first frame fits


def test_find_hides_what_is_being_deleted_and_what_cannot_exist():
    ops = uploads()
    job = ops.accept(upload(), {}).job
    name = job["metadata"]["name"]
    assert ops.find(name) is job
    job["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    with pytest.raises(JobNotFound, match="has been deleted"):
        ops.find(name)
    assert [tj["metadata"]["name"] for tj in ops.page(10)[0]] == []
    with pytest.raises(JobNotFound, match="no job with id"):
        ops.find("../etc")
