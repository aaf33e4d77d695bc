"""The upload API contract, with plain fakes for the store and the API server.

(The same paths against the real S3 server and API server are in tests/integration.)
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import falcon.testing
import pytest
from PIL import Image
from urllib3 import encode_multipart_formdata

from thumbnailer.storetypes import StoreUnavailable
from uploader.app import create_app
from uploader.settings import UploaderSettings
from uploader.thumbnailjobs import AlreadyExists, ClusterUnavailable

CASES = Path(__file__).resolve().parents[1] / "data" / "cases"


class FakeStore:
    """thumbnailer.objectstore.ObjectStore's interface, over one dict: key -> (bytes, content type)."""

    def __init__(self, fail=False):
        self.objects, self.fail = {}, fail

    def put(self, bucket, key, data, length, content_type):
        if self.fail:
            raise StoreUnavailable("connection refused")
        self.objects[key] = (data.read(), content_type)

    def remove(self, bucket, key):
        self.objects.pop(key, None)

    def ensure_bucket(self, bucket, create=False):
        if self.fail:
            raise StoreUnavailable("connection refused")


class FakeJobs:
    namespace = "media"

    def __init__(self, fail=False):
        self.items, self.fail = {}, fail

    def create(self, manifest):
        if self.fail:
            raise ClusterUnavailable("API server unreachable")
        if manifest["metadata"]["name"] in self.items:
            raise AlreadyExists(manifest["metadata"]["name"])
        obj = {**manifest, "metadata": {**manifest["metadata"], "namespace": "media",
                                        "creationTimestamp": "2026-01-01T00:00:00Z"}}
        self.items[manifest["metadata"]["name"]] = obj
        return obj

    def get(self, name):
        return self.items.get(name)

    def delete(self, name):
        return self.items.pop(name, None) is not None

    def page(self, limit, continue_token="", field_selector=""):
        items = sorted(self.items.values(), key=lambda o: o["metadata"]["name"])
        start = int(continue_token or 0)
        rest = items[start:start + limit]
        return rest, str(start + limit) if start + limit < len(items) else None

    def check(self):
        if self.fail:
            raise ClusterUnavailable("API server unreachable")


def png_bytes(size=(32, 16)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "red").save(out, "PNG")
    return out.getvalue()


def multipart(field: str, data: bytes) -> dict:
    """simulate_post kwargs for a multipart/form-data body with one file field."""
    body, content_type = encode_multipart_formdata({field: ("x.png", data, "image/png")})
    return {"body": body, "headers": {"Content-Type": content_type}}


def make_client(store=None, jobs=None, **settings):
    store, jobs = store or FakeStore(), jobs or FakeJobs()
    settings.setdefault("s3_bucket", "thumbs")
    app = create_app(UploaderSettings(**settings), store=store, jobs=jobs)
    return falcon.testing.TestClient(app), store, jobs


def test_multipart_upload_stores_the_source_then_creates_the_thumbnailjob():
    c, store, jobs = make_client()
    r = c.simulate_post("/v1/jobs", params={"width": "64"}, **multipart("image", png_bytes()))
    assert r.status_code == 202 and r.json["status"] == "processing"
    job_id = r.json["id"]
    assert r.headers["Location"] == f"/v1/jobs/{job_id}"
    key = f"uploads/media/{job_id}.png"
    assert store.objects[key] == (png_bytes(), "image/png")
    assert jobs.items[job_id]["spec"] == {"source": {"bucket": "thumbs", "key": key}, "size": {"width": 64}}


def test_raw_body_upload_is_sniffed_not_trusted():
    c, store, _ = make_client()
    r = c.simulate_post("/v1/jobs", body=png_bytes(), headers={"Content-Type": "image/jpeg"})
    assert r.status_code == 202
    (key, (_, content_type)), = store.objects.items()
    assert key.endswith(".png") and content_type == "image/png"


@pytest.mark.parametrize("body,status,reason", [
    (b"hello, world", 415, "NotAnImage"),
    ((CASES / "c31_svg_script.svg").read_bytes(), 415, "UnsupportedFormat"),
    ((CASES / "c17_bomb_png_ihdr.png").read_bytes(), 422, "ImageTooLarge"),
    (b"", 400, "EmptyFile"),
])
def test_bad_uploads_are_refused_with_a_problem_and_nothing_is_stored(body, status, reason):
    c, store, jobs = make_client()
    r = c.simulate_post("/v1/jobs", body=body, headers={"Content-Type": "application/octet-stream",
                                                        "Content-Length": str(len(body))})
    assert r.status_code == status
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.json["status"] == status and r.json["reason"] == reason and r.json["type"].startswith("https://")
    assert store.objects == {} and jobs.items == {}


def test_upload_without_content_length_is_411():
    c, store, _ = make_client()
    r = c.simulate_post("/v1/jobs", body=b"")
    assert r.status_code == 411 and store.objects == {} and r.headers["Connection"] == "close"


def test_over_the_byte_limit_is_413():
    c, store, _ = make_client(max_upload_bytes=1000)
    r = c.simulate_post("/v1/jobs", body=png_bytes((400, 400)) + b"\0" * 200_000)
    assert r.status_code == 413 and store.objects == {} and r.headers["Connection"] == "close"


def test_invalid_parameters_and_missing_field_are_400():
    c, _, _ = make_client()
    assert c.simulate_post("/v1/jobs", body=png_bytes(), params={"fit": "stretch"}).status_code == 400
    assert c.simulate_post("/v1/jobs", body=png_bytes(), params={"width": "0"}).status_code == 400
    r = c.simulate_post("/v1/jobs", **multipart("file", png_bytes()))
    assert r.status_code == 400 and r.json["type"].endswith("missing-image")


def test_store_down_is_503_with_retry_after_and_no_thumbnailjob():
    c, _, jobs = make_client(store=FakeStore(fail=True))
    r = c.simulate_post("/v1/jobs", body=png_bytes())
    assert r.status_code == 503 and r.headers["Retry-After"] == "5" and jobs.items == {}


def test_api_server_down_is_503_and_the_stored_source_is_removed():
    c, store, _ = make_client(jobs=FakeJobs(fail=True))
    r = c.simulate_post("/v1/jobs", body=png_bytes())
    assert r.status_code == 503 and store.objects == {}


def test_readyz_names_the_dependency_that_is_down():
    c, _, _ = make_client(store=FakeStore(fail=True))
    r = c.simulate_get("/readyz")
    assert r.status_code == 503
    assert r.json["checks"]["object_store"] != "ok" and r.json["checks"]["kubernetes_api"] == "ok"
    assert make_client()[0].simulate_get("/readyz").status_code == 200


def test_job_ids_sort_newest_first():
    from uploader.jobids import new_job_id

    older, newer = new_job_id(1_700_000_000_000), new_job_id(1_700_000_000_001)
    assert newer < older and len(newer) == 19 and newer.startswith("tj-")


def test_idempotency_key_replays_the_same_job_and_refuses_a_different_body():
    c, store, jobs = make_client()
    headers = {"Idempotency-Key": "retry-me-42", "Content-Length": str(len(png_bytes()))}
    first = c.simulate_post("/v1/jobs", body=png_bytes(), headers=headers)
    again = c.simulate_post("/v1/jobs", body=png_bytes(), headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json["id"] == first.json["id"] and again.headers["Idempotent-Replayed"] == "true"
    assert len(jobs.items) == 1 and len(store.objects) == 1
    other = png_bytes((8, 8))
    clash = c.simulate_post("/v1/jobs", body=other, headers={"Idempotency-Key": "retry-me-42",
                                                             "Content-Length": str(len(other))})
    assert clash.status_code == 422 and len(jobs.items) == 1


def test_a_retry_that_loses_the_create_race_replays_the_winner_and_removes_its_own_source():
    c, store, jobs = make_client()
    headers = {"Idempotency-Key": "raced-7", "Content-Length": str(len(png_bytes()))}
    winner = c.simulate_post("/v1/jobs", body=png_bytes(), headers=headers).json
    real_get, first_look = jobs.get, iter([None])
    # This request looks before the winner's create is visible, then its own create gets AlreadyExists.
    jobs.get = lambda name: next(first_look, None) or real_get(name)
    lost = c.simulate_post("/v1/jobs", body=png_bytes(), headers=headers)
    assert lost.status_code == 202 and lost.json["id"] == winner["id"]
    assert lost.headers["Idempotent-Replayed"] == "true"
    assert list(store.objects) == [winner["source"]["key"]] and len(jobs.items) == 1


def test_list_pages_with_an_opaque_continue_token():
    c, _, jobs = make_client()
    for _ in range(5):
        assert c.simulate_post("/v1/jobs", body=png_bytes()).status_code == 202
    seen, token = [], None
    while True:
        page = c.simulate_get("/v1/jobs", params={"limit": "2", **({"continue": token} if token else {})}).json
        seen += [i["id"] for i in page["items"]]
        token = page["continue"]
        if token is None:
            break
    assert sorted(seen) == sorted(jobs.items) and len(seen) == 5
    assert c.simulate_get("/v1/jobs", params={"status": "weird"}).status_code == 400
    assert c.simulate_get("/v1/jobs", params={"limit": "0"}).status_code == 400


def test_delete_removes_the_job_and_unknown_ids_are_404():
    c, _, jobs = make_client()
    job_id = c.simulate_post("/v1/jobs", body=png_bytes()).json["id"]
    assert c.simulate_delete(f"/v1/jobs/{job_id}").status_code == 204 and jobs.items == {}
    assert c.simulate_delete(f"/v1/jobs/{job_id}").status_code == 404


def test_falcons_own_errors_get_a_clean_problem_type():
    c, _, _ = make_client()
    r = c.simulate_post("/v1/jobs", body=b"--x\r\nnot a form", headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert r.status_code == 400 and r.headers["Content-Type"] == "application/problem+json"
    slug = r.json["type"].rsplit("/problems/", 1)[1]
    assert slug and all(ch.isalnum() or ch == "-" for ch in slug), r.json["type"]


def test_gunicorns_own_refusals_are_written_as_problem_json():
    from uploader.gunicorn_errors import problem_response

    head, _, body = problem_response(500, "Internal Server Error", "").partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0] == "HTTP/1.1 500 Internal Server Error"
    assert {"Connection: close", "Content-Type: application/problem+json", f"Content-Length: {len(body)}"} <= set(lines)
    assert json.loads(body) == {"type": "https://thumbnailer.dev/problems/internal-server-error",
                                "title": "Internal Server Error", "status": 500}  # no empty detail


def test_options_is_204_naming_every_method_as_a_405_does():
    client, _, _ = make_client()
    for path in ("/v1/jobs", "/v1/jobs/tj-1", "/v1/jobs/tj-1/thumbnail", "/healthz"):
        options = client.simulate_options(path)
        assert options.status_code == 204 and options.text == "", path
        assert "content-type" not in {k.lower() for k in options.headers}, path
        refused = client.simulate_request("TRACE", path)
        assert refused.status_code == 405
        allow = {m.strip() for m in options.headers["Allow"].split(",")}
        assert "OPTIONS" in allow and allow == {m.strip() for m in refused.headers["Allow"].split(",")}, path
    assert client.simulate_options("/no/such/route").status_code == 404
