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


# --- 1. a stalled upload ---------------------------------------------------------------

class StallingBody(io.RawIOBase):
    """wsgi.input of a client that sends ``first`` and then nothing: the read times out,
    as gunicorn's socket read does once the app has set a timeout on it."""

    def __init__(self, first: bytes):
        self.left = first

    def readable(self):
        return True

    def readinto(self, buffer):
        if not self.left:
            raise TimeoutError("timed out")
        n = min(len(buffer), len(self.left))
        buffer[:n], self.left = self.left[:n], self.left[n:]
        return n


class FakeSocket:
    timeout = None

    def settimeout(self, seconds):
        self.timeout = seconds


@pytest.mark.parametrize("multipart", [False, True], ids=["raw", "multipart"])
def test_a_stalled_upload_is_408_with_connection_close_and_nothing_is_stored(multipart):
    c, store, jobs = make_client(body_read_timeout_seconds=7)
    data, content_type = png_bytes(), "image/png"
    if multipart:
        data, content_type = encode_multipart_formdata({"image": ("x.png", data, "image/png")})
    sock = FakeSocket()
    r = c.simulate_post("/v1/jobs", headers={"Content-Type": content_type, "Content-Length": "100000"},
                        extras={"wsgi.input": StallingBody(data[:len(data) // 2]), "gunicorn.socket": sock})
    body = problem(r, 408, "request-timeout")
    assert "7 seconds" in body["detail"] and body["instance"] == "/v1/jobs"
    assert r.headers["Connection"] == "close"
    assert sock.timeout == 7  # set on gunicorn's client socket before the body is read
    assert store.objects == {} and jobs.items == {}
    assert c.simulate_get("/healthz").status_code == 200


@pytest.mark.parametrize("multipart", [False, True], ids=["raw", "multipart"])
def test_an_upload_the_client_cut_off_is_400_incomplete_and_nothing_is_stored(multipart):
    """Half of what Content-Length announced, then the end of the stream (the client closed its side)."""
    c, store, jobs = make_client()
    data, content_type = png_bytes(), "image/png"
    if multipart:
        data, content_type = encode_multipart_formdata({"image": ("x.png", data, "image/png")})
    r = c.simulate_post("/v1/jobs", headers={"Content-Type": content_type, "Content-Length": str(len(data))},
                        extras={"wsgi.input": io.BytesIO(data[:len(data) // 2])})
    body = problem(r, 400, "incomplete-body")
    assert str(len(data)) in body["detail"] and r.headers["Connection"] == "close"
    assert store.objects == {} and jobs.items == {}


def test_a_form_with_two_images_or_none_or_no_closing_delimiter_is_400():
    c, store, jobs = make_client()
    two, content_type = encode_multipart_formdata([("image", ("a.png", png_bytes(), "image/png")),
                                                   ("image", ("b.png", png_bytes(), "image/png"))])
    assert problem(c.simulate_post("/v1/jobs", body=two, headers={"Content-Type": content_type}), 400,
                   "repeated-field")["parameter"] == "image"
    none, content_type = encode_multipart_formdata({"picture": ("a.png", png_bytes(), "image/png")})
    assert problem(c.simulate_post("/v1/jobs", body=none, headers={"Content-Type": content_type}), 400,
                   "missing-image")["parameter"] == "picture"  # a file in another field: named as such
    option, content_type = encode_multipart_formdata([("image", ("a.png", png_bytes(), "image/png")),
                                                      ("width", "300")])
    body = problem(c.simulate_post("/v1/jobs", body=option, headers={"Content-Type": content_type}), 400,
                   "unknown-field")
    assert body["parameter"] == "width" and "query string" in body["detail"]
    empty, content_type = encode_multipart_formdata({})
    problem(c.simulate_post("/v1/jobs", body=empty, headers={"Content-Type": content_type}), 400, "missing-image")
    whole, content_type = encode_multipart_formdata({"image": ("a.png", png_bytes(), "image/png")})
    unclosed = whole[:whole.rindex(b"--")]  # complete as sent (its Content-Length matches), but malformed
    r = c.simulate_post("/v1/jobs", body=unclosed, headers={"Content-Type": content_type})
    assert r.status_code == 400 and r.headers["Content-Type"] == "application/problem+json", r.text
    assert store.objects == {} and jobs.items == {}


def test_connection_close_is_handed_to_gunicorn_which_drops_the_header_itself():
    class GunicornResponse:  # gunicorn.http.wsgi.Response: start_response is its method
        closed, headers = False, None

        def force_close(self):
            self.closed = True

        def start_response(self, status, headers, exc_info=None):
            self.status, self.headers = status, headers

    app = create_app(UploaderSettings(body_read_timeout_seconds=3), store=FakeStore(), jobs=FakeJobs())
    env = falcon.testing.create_environ(method="POST", path="/v1/jobs",
                                        headers={"Content-Type": "image/png", "Content-Length": "100000"})
    env.update({"wsgi.input": StallingBody(png_bytes()[:20]), "gunicorn.socket": FakeSocket()})
    server = GunicornResponse()
    body = b"".join(app(env, server.start_response))
    assert server.status.startswith("408") and server.closed
    assert "connection" not in {k.lower() for k, _ in server.headers}  # hop-by-hop: gunicorn writes its own
    assert json.loads(body)["type"].endswith("request-timeout")
    ok = GunicornResponse()
    app(falcon.testing.create_environ(path="/healthz"), ok.start_response)
    assert ok.status.startswith("200") and not ok.closed


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
    ("list", "stauts", "failed"),        # misspelt: was ignored, listing every job
    ("list", "width", "10"),             # an upload's parameter
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


def test_a_misspelt_upload_option_is_400_naming_it_not_a_default_thumbnail():
    c, store, jobs = make_client()
    body = problem(c.simulate_post("/v1/jobs", body=png_bytes(), params={"widht": "300"}), 400, "invalid-parameter")
    assert body["parameter"] == "widht" and "width, height, fit and format" in body["detail"]
    assert store.objects == {} and jobs.items == {}
    # The list takes the cache-busting "_" (jQuery's cache: false) and nothing else unknown.
    assert c.simulate_get("/v1/jobs", params={"_": "1700000000"}).status_code == 200


def test_a_single_job_get_ignores_a_cache_busting_parameter():
    c, _, _ = make_client()
    job_id = c.simulate_post("/v1/jobs", body=png_bytes()).json["id"]
    assert c.simulate_get(f"/v1/jobs/{job_id}", params={"_": "1733140000"}).status_code == 200


def test_ascii_parameters_still_work():
    c, _, jobs = make_client()
    r = c.simulate_post("/v1/jobs", body=png_bytes(), params={"width": "64", "height": "0032", "fit": "fill"})
    assert r.status_code == 202 and r.json["size"] == {"width": 64, "height": 32} and r.json["fit"] == "fill"
    assert c.simulate_get("/v1/jobs", params={"limit": "500"}).status_code == 200


# --- gunicorn's configuration ----------------------------------------------------------------

@pytest.fixture
def gunicorn_config(monkeypatch):
    """Load ``-c python:uploader.gunicorn_conf`` the way the gunicorn command does; logging restored after."""
    from gunicorn.app.wsgiapp import WSGIApplication

    def load(**env):
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        sys.modules.pop("uploader.gunicorn_conf", None)
        monkeypatch.setattr(sys, "argv", ["gunicorn", "-c", "python:uploader.gunicorn_conf",
                                          "uploader.app:create_app()"])
        return WSGIApplication().cfg

    names = ("", "gunicorn.error", "gunicorn.access")
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).propagate, logging.getLogger(n).level)
             for n in names}
    yield load
    sys.modules.pop("uploader.gunicorn_conf", None)
    for n, (handlers, propagate, level) in saved.items():
        logger = logging.getLogger(n)
        logger.handlers[:], logger.propagate, logger.level = handlers, propagate, level


def test_gunicorn_settings_live_in_one_module(gunicorn_config):
    cfg = gunicorn_config(UPLOADER_BIND="127.0.0.1:18000", UPLOADER_THREADS="4")
    assert cfg.address and cfg.bind == ["127.0.0.1:18000"] and cfg.threads == 4
    assert cfg.workers == 1 and cfg.worker_class_str == "gthread" and cfg.worker_tmp_dir == "/tmp"
    assert cfg.control_socket_disable is True
    assert cfg.graceful_timeout < 30  # inside Kubernetes' default termination grace period
    assert (cfg.limit_request_line, cfg.limit_request_fields, cfg.limit_request_field_size) == (4094, 100, 8190)
    defaults = gunicorn_config()
    assert defaults.bind == ["127.0.0.1:18000"]  # the environment still says so
    assert UploaderSettings.model_fields["bind"].default == "0.0.0.0:8000"
    assert UploaderSettings.model_fields["threads"].default == 16


def test_gunicorn_own_log_lines_are_json(gunicorn_config, capsys):
    from gunicorn.glogging import Logger

    log = Logger(gunicorn_config())
    log.warning("Invalid request from ip=%s: %s", "10.0.0.1", "Invalid HTTP request line: 'GARBAGE'")
    log.error("Worker (pid:%s) was sent SIGKILL!", 42)
    lines = capsys.readouterr().err.splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["level"] for r in records] == ["WARNING", "ERROR"]
    assert records[0]["logger"] == "gunicorn.error" and "Invalid request from ip=10.0.0.1" in records[0]["message"]
    assert all("time" in r and "request_id" in r for r in records)
    # No second access line per request: the app writes its own (uploader.access).
    assert not logging.getLogger("gunicorn.access").isEnabledFor(logging.INFO)


def test_a_thumbnail_asked_for_too_early_is_409_with_retry_after_and_a_failed_one_gives_its_reason():
    c, _, jobs = make_client()
    job_id = c.simulate_post("/v1/jobs", body=png_bytes()).json["id"]
    early = c.simulate_get(f"/v1/jobs/{job_id}/thumbnail")
    assert problem(early, 409, "job-not-finished")["status_of_job"] == "processing"
    assert early.headers["Retry-After"] == "1"
    jobs.items[job_id]["status"] = {"phase": "Failed", "reason": "TruncatedImage", "message": "cut short",
                                    "observedGeneration": 1}
    failed = c.simulate_get(f"/v1/jobs/{job_id}/thumbnail")
    assert problem(failed, 409, "job-failed")["reason"] == "TruncatedImage" and "Retry-After" not in failed.headers
