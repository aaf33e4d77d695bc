"""The OpenAPI document is valid, complete, and matches what the API sends."""

from __future__ import annotations

import falcon.inspect
import falcon.testing
import pytest
from openapi_spec_validator import validate

from test_uploader_api import FakeJobs, FakeStore, png_bytes
from uploader.app import create_app
from uploader.schemas import Job, JobList
from uploader.settings import UploaderSettings
from uploader.views import job_view


@pytest.fixture(scope="module")
def client():
    return falcon.testing.TestClient(create_app(UploaderSettings(), store=FakeStore(), jobs=FakeJobs()))


def test_document_is_valid_openapi_3(client):
    doc = client.simulate_get("/openapi.json").json
    validate(doc)
    assert doc["openapi"].startswith("3.")


#: Routes that serve the document itself, its viewer and the metrics: not operations of the API.
NOT_THE_API = {"/openapi.json", "/docs", "/docs/static/init.js", "/metrics"}


def test_every_route_and_method_the_app_serves_is_documented_and_nothing_else(client):
    doc = client.simulate_get("/openapi.json").json
    served = {(route.path, m.method.lower()) for route in falcon.inspect.inspect_routes(client.app)
              if route.path not in NOT_THE_API for m in route.methods if not m.internal and m.method != "HEAD"}
    documented = {(path, m) for path, ops in doc["paths"].items() for m in ops}
    assert documented == served
    assert ("/v1/jobs", "post") in served and ("/v1/jobs/{job_id}", "delete") in served  # the walk sees the routes
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["summary"] and op["responses"], (path, method)
            for param in op.get("parameters", []):
                if param["in"] == "path":
                    assert f"{{{param['name']}}}" in path


def test_errors_are_documented_as_problem_details(client):
    doc = client.simulate_get("/openapi.json").json
    post = doc["paths"]["/v1/jobs"]["post"]["responses"]
    assert {"202", "400", "411", "413", "415", "422", "503"} <= set(post)
    assert post["415"]["content"]["application/problem+json"]["example"]["reason"] == "NotAnImage"
    assert "Retry-After" in doc["components"]["responses"]["Unavailable"]["headers"]


def test_the_views_the_api_sends_match_the_documented_schemas(client):
    job_id = client.simulate_post("/v1/jobs", body=png_bytes()).json["id"]
    Job.model_validate(client.simulate_get(f"/v1/jobs/{job_id}").json)
    JobList.model_validate(client.simulate_get("/v1/jobs").json)
    done = {"metadata": {"name": "tj-x", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"source": {"key": "k"}, "size": {"width": 10, "height": 20}, "fit": "fill"},
            "status": {"phase": "Succeeded", "reason": "ThumbnailReady", "completionTime": "2026-01-01T00:00:01Z",
                       "output": {"width": 10, "height": 20, "contentType": "image/png", "bytes": 99}}}
    Job.model_validate(job_view(done))


def test_swagger_ui_is_served_without_any_external_asset(client):
    page = client.simulate_get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert "http://" not in page.text and "https://" not in page.text
    for asset in ("/docs/static/swagger-ui-bundle.js", "/docs/static/swagger-ui.css", "/docs/static/init.js"):
        assert client.simulate_get(asset).status_code == 200, asset


def test_metrics_count_requests_by_route_and_code(client):
    client.simulate_get("/v1/jobs/tj-missing")
    text = client.simulate_get("/metrics").text
    assert 'thumbnailer_http_requests_total{code="404",method="GET",route="/v1/jobs/{job_id}"}' in text
    assert "thumbnailer_http_request_duration_seconds_bucket" in text


@pytest.mark.filterwarnings("ignore::wsgiref.validate.WSGIWarning")  # the simulator flags the methods, as it should
def test_invented_methods_share_one_metric_label(client):
    for method in ("AAAA", "BBBB", "CCCC"):
        assert client.simulate_request(method, "/x1").status_code in (404, 405)
    lines = [line for line in client.simulate_get("/metrics").text.splitlines()
             if line.startswith("thumbnailer_http_requests_total{")]
    assert not [line for line in lines if "AAAA" in line or "BBBB" in line or "CCCC" in line]
    assert [line for line in lines if 'method="other"' in line and 'route="unmatched"' in line]


def test_head_answers_like_get_without_a_body(client):
    for path in ("/healthz", "/v1/jobs", "/v1/jobs/tj-missing", "/metrics", "/openapi.json", "/docs",
                 "/docs/static/init.js", "/docs/static/swagger-ui.css"):
        get, head = client.simulate_get(path), client.simulate_head(path)
        assert head.status_code == get.status_code and head.content == b"", path
        assert head.headers["Content-Type"] == get.headers["Content-Type"], path


def test_request_id_is_echoed_or_made(client):
    given = client.simulate_get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    made = client.simulate_get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert made.headers["X-Request-ID"] != "bad id with spaces" and len(made.headers["X-Request-ID"]) == 32


def test_every_json_response_carries_an_example(client):
    doc = client.simulate_get("/openapi.json").json
    shared = doc["components"]["responses"]
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for code, response in op["responses"].items():
                if "$ref" in response:
                    response = shared[response["$ref"].rsplit("/", 1)[-1]]
                for media, body in (response.get("content") or {}).items():
                    if "json" in media:
                        assert "example" in body or body.get("examples"), (path, method, code, media)


def test_the_documented_idempotency_key_pattern_is_the_one_the_uploader_applies(client):
    import re

    from uploader.idempotency import InvalidKey, check_key

    spec = client.simulate_get("/openapi.json").json
    header = next(p for p in spec["paths"]["/v1/jobs"]["post"]["parameters"] if p["name"] == "Idempotency-Key")
    pattern = header["schema"]["pattern"]
    for code in range(0x20, 0x80):
        key = f"k{chr(code)}k"
        try:
            accepted = check_key(key) == key
        except InvalidKey:
            accepted = False
        assert bool(re.fullmatch(pattern, key)) == accepted, repr(key)
