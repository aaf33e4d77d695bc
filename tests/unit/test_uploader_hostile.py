"""What a hostile user found, as the user sees it: the HTTP status, the problem+json
body, and a service that still answers (fakes for the store and the API server;
the same paths under the real gunicorn are in tests/integration/test_upload_api.py)."""

from __future__ import annotations

import io
import json
import logging
import sys

import falcon.testing
import pytest
from kubernetes.client.rest import ApiException
from urllib3 import encode_multipart_formdata

from test_uploader_api import FakeJobs, FakeStore, make_client, png_bytes
from uploader.app import create_app
from uploader.observability import DEPENDENCY_ERRORS
from uploader.settings import UploaderSettings
from uploader.thumbnailjobs import ThumbnailJobs


def problem(r, status: int, slug: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.json["status"] == status and r.json["type"] == f"https://thumbnailer.dev/problems/{slug}"
    return r.json


# --- 2. a bogus continue token -----------------------------------------------------------

class RefusingCustomObjects:
    """The API server's answer to a list with a continue token it cannot use."""

    def __init__(self, status: int):
        self.status = status

    def list_namespaced_custom_object(self, *args, **kwargs):
        if kwargs.get("_continue"):
            raise ApiException(status=self.status, reason="Bad Request" if self.status == 400 else "Gone")
        return {"items": [], "metadata": {}}


def jobs_answering(status: int) -> ThumbnailJobs:
    jobs = ThumbnailJobs.__new__(ThumbnailJobs)
    jobs.namespace, jobs._custom = "media", RefusingCustomObjects(status)
    return jobs


def dependency_errors() -> float:
    return DEPENDENCY_ERRORS.labels("kubernetes-api")._value.get()


def test_a_bogus_continue_token_is_400_naming_the_parameter_not_an_outage():
    c, _, _ = make_client(jobs=jobs_answering(400))
    before = dependency_errors()
    r = c.simulate_get("/v1/jobs", params={"continue": "bogus"})
    assert problem(r, 400, "invalid-parameter")["parameter"] == "continue"
    assert "Retry-After" not in r.headers and dependency_errors() == before
    assert c.simulate_get("/v1/jobs").status_code == 200


def test_an_expired_continue_token_is_still_410():
    c, _, _ = make_client(jobs=jobs_answering(410))
    problem(c.simulate_get("/v1/jobs", params={"continue": "eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ"}), 410,
            "continue-expired")


# --- 3. an Idempotency-Key reused with other parameters ----------------------------------

@pytest.mark.parametrize("params", [{"width": "50"}, {"height": "64"}, {"fit": "contain"}, {"format": "png"}],
                         ids=lambda p: next(iter(p)))
def test_an_idempotency_key_reused_with_other_parameters_is_422(params):
    c, store, jobs = make_client()
    headers = {"Idempotency-Key": "k-1"}
    first = c.simulate_post("/v1/jobs", body=png_bytes(), headers=headers)
    assert first.status_code == 202
    clash = c.simulate_post("/v1/jobs", body=png_bytes(), headers=headers, params=params)
    body = problem(clash, 422, "idempotency-key-reused")
    assert next(iter(params)) in body["detail"] and "Idempotent-Replayed" not in clash.headers
    assert len(jobs.items) == 1 and len(store.objects) == 1


def test_the_same_key_bytes_and_effective_parameters_still_replay():
    c, _, jobs = make_client()
    headers = {"Idempotency-Key": "k-2"}
    first = c.simulate_post("/v1/jobs", body=png_bytes(), headers=headers, params={"width": "50"})
    # The defaults written out (height 100, fit cover) are the same request.
    again = c.simulate_post("/v1/jobs", body=png_bytes(), headers=headers,
                            params={"width": "050", "height": "100", "fit": "cover"})
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json["id"] == first.json["id"] and len(jobs.items) == 1


# --- 4. query parameters -------------------------------------------------------------------

@pytest.mark.parametrize("path,name,value", [
    ("/v1/jobs", "width", "１０"),        # fullwidth digits: int() takes them
    ("/v1/jobs", "height", "٤٢"),         # Arabic-Indic digits
    ("/v1/jobs", "width", "²"),           # isdigit() but not int(): was a 500
    ("/v1/jobs", "width", "1" * 5000),    # over int()'s digit limit: was a 500
    ("/v1/jobs", "width", "1_0"),
    ("/v1/jobs", "width", "+10"),
    ("/v1/jobs", "width", " 10"),
    ("/v1/jobs", "width", ""),
    ("/v1/jobs", "width", "4097"),
    ("list", "limit", "１０"),
    ("list", "limit", "0"),
    ("list", "limit", "501"),
    ("list", "limit", "ten"),
    ("list", "status", "weird"),
])
def test_a_bad_parameter_is_400_naming_it(path, name, value):
    c, store, jobs = make_client()
    if path == "list":
        r = c.simulate_get("/v1/jobs", params={name: value})
    else:
        r = c.simulate_post("/v1/jobs", body=png_bytes(), params={name: value})
    assert problem(r, 400, "invalid-parameter")["parameter"] == name
    assert store.objects == {} and jobs.items == {}


@pytest.mark.parametrize("method,query,name", [
    ("POST", "width=10&width=20", "width"),
    ("POST", "height=10&height=10", "height"),
    ("POST", "fit=cover&fit=fill", "fit"),
    ("POST", "format=png&format=jpeg", "format"),
    ("GET", "limit=1&limit=2", "limit"),
    ("GET", "status=failed&status=succeeded", "status"),
    ("GET", "continue=a&continue=b", "continue"),
])
def test_a_repeated_parameter_is_400_not_last_one_wins(method, query, name):
    c, store, jobs = make_client()
    r = c.simulate_request(method, "/v1/jobs", query_string=query, body=png_bytes() if method == "POST" else None)
    body = problem(r, 400, "invalid-parameter")
    assert body["parameter"] == name and "2 times" in body["detail"]
    assert store.objects == {} and jobs.items == {}


def test_ascii_parameters_still_work():
    c, _, jobs = make_client()
    r = c.simulate_post("/v1/jobs", body=png_bytes(), params={"width": "64", "height": "0032", "fit": "fill"})
    assert r.status_code == 202 and r.json["size"] == {"width": 64, "height": 32} and r.json["fit"] == "fill"
    assert c.simulate_get("/v1/jobs", params={"limit": "500"}).status_code == 200
