"""The upload API's contract against the real uploader, S3 server and API server:
no loss, no orphans, idempotency, pagination, caching headers, deletion."""

from __future__ import annotations

import http.client
import json
import socket
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests
from kubernetes import client

from devcluster.components import install_crd, start_uploader
from devcluster.stack import LocalCluster
from thumbnailer import api
from uploader.jobids import keyed_job_id

pytestmark = pytest.mark.integration
PHOTO = Path(__file__).resolve().parents[1] / "data" / "photos" / "grace_hopper.jpg"


def sources_in(cluster, namespace: str) -> list[str]:
    return [o.object_name for o in cluster.s3.client().list_objects(cluster.s3.bucket, f"uploads/{namespace}/",
                                                                     recursive=True)]


def thumbnailjobs_in(cluster, namespace: str) -> list[str]:
    return cluster.kubectl("get", api.PLURAL, "-n", namespace, "-o", "name").stdout.split()


@pytest.fixture(scope="module")
def private_stack(binaries, tmp_path_factory):
    """A cluster and an uploader of this module's own, whose servers the tests stop and start."""
    own = LocalCluster(tmp_path_factory.mktemp("private"), binaries).start()
    install_crd(own)
    up = start_uploader(own, tmp_path_factory.mktemp("private-uploader"), namespace="default")
    yield own, up
    up.process.stop()
    own.stop()


def test_store_stopped_means_503_with_retry_after_and_no_thumbnailjob(private_stack):
    own, up = private_stack
    own.s3.stop()
    try:
        with open(PHOTO, "rb") as f:
            resp = requests.post(f"{up.url}/v1/jobs", files={"image": f}, timeout=60)
        assert resp.status_code == 503 and int(resp.headers["Retry-After"]) > 0
        assert resp.headers["Content-Type"] == "application/problem+json"
        assert resp.json()["type"].endswith("object-store-unavailable")
        assert thumbnailjobs_in(own, "default") == []
        ready = requests.get(f"{up.url}/readyz", timeout=60)
        assert ready.status_code == 503 and ready.json()["checks"]["kubernetes_api"] == "ok"
        assert ready.json()["checks"]["object_store"] != "ok"
    finally:
        own.s3.start()  # same port, credentials and data
    assert requests.get(f"{up.url}/readyz", timeout=60).status_code == 200


def test_api_server_stopped_means_503_and_the_stored_source_is_removed(private_stack):
    own, up = private_stack
    apiserver = next(p for p in own.control_plane.processes if p.name == "kube-apiserver")
    apiserver.stop()
    with open(PHOTO, "rb") as f:
        resp = requests.post(f"{up.url}/v1/jobs", files={"image": f}, timeout=60)
    assert resp.status_code == 503 and resp.json()["type"].endswith("kubernetes-api-unavailable")
    assert sources_in(own, "default") == []  # nothing orphaned in the bucket
    ready = requests.get(f"{up.url}/readyz", timeout=60)
    assert ready.status_code == 503 and ready.json()["checks"]["object_store"] == "ok"


def test_api_server_refusal_means_503_and_the_source_is_removed(cluster, crd, api_client, namespace, tmp_path):
    # An uploader whose ServiceAccount may read ThumbnailJobs but not create them.
    core, rbac = client.CoreV1Api(api_client), client.RbacAuthorizationV1Api(api_client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "reader"}})
    rbac.create_namespaced_role(namespace, {"metadata": {"name": "reader"}, "rules": [
        {"apiGroups": [api.GROUP], "resources": [api.PLURAL], "verbs": ["get", "list"]}]})
    rbac.create_namespaced_role_binding(namespace, {"metadata": {"name": "reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}]})
    token = core.create_namespaced_service_account_token("reader", namespace, {"spec": {}}).status.token
    kubeconfig = cluster.token_kubeconfig(tmp_path / "reader.kubeconfig", token)
    up = start_uploader(cluster, tmp_path, namespace=namespace, KUBECONFIG=str(kubeconfig))
    try:
        with open(PHOTO, "rb") as f:
            resp = requests.post(f"{up.url}/v1/jobs", files={"image": f}, timeout=30)
        assert resp.status_code == 503 and "403" in resp.json()["detail"]
        assert sources_in(cluster, namespace) == []  # the stored source was removed
        assert thumbnailjobs_in(cluster, namespace) == []
    finally:
        up.process.stop()


def test_retry_with_the_same_idempotency_key_returns_the_same_job(cluster, uploader):
    def post():
        with open(PHOTO, "rb") as f:
            return requests.post(f"{uploader.url}/v1/jobs", data=f.read(), timeout=30,
                                 headers={"Idempotency-Key": "upload-7f3a", "Content-Type": "image/jpeg"})

    first, second = post(), post()
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"] == keyed_job_id("upload-7f3a")
    assert second.headers["Idempotent-Replayed"] == "true"
    assert [s for s in sources_in(cluster, uploader.namespace) if s.startswith(
        f"uploads/{uploader.namespace}/{first.json()['id']}")] == [first.json()["source"]["key"]]


def test_a_repeated_idempotency_key_header_is_400_and_stores_nothing(cluster, uploader):
    """gunicorn joins a header given twice with a comma: two keys are refused, not taken as a third."""
    before = sources_in(cluster, uploader.namespace)
    body = PHOTO.read_bytes()
    conn = http.client.HTTPConnection(urlparse(uploader.url).netloc, timeout=30)
    try:
        conn.putrequest("POST", "/v1/jobs")
        for header, value in (("Idempotency-Key", "dup-a"), ("Idempotency-Key", "dup-b"),
                              ("Content-Type", "image/jpeg"), ("Content-Length", str(len(body)))):
            conn.putheader(header, value)
        conn.endheaders(body)
        answer = conn.getresponse()
        problem = json.loads(answer.read())
    finally:
        conn.close()
    assert answer.status == 400 and answer.getheader("Content-Type") == "application/problem+json", problem
    assert problem["type"].endswith("invalid-idempotency-key") and "comma" in problem["detail"]
    assert sources_in(cluster, uploader.namespace) == before


def test_concurrent_retries_with_one_idempotency_key_make_one_job_and_keep_one_source(cluster, uploader):
    """Ten at once: the API server's name uniqueness picks one; the others replay it and remove their sources."""
    from concurrent.futures import ThreadPoolExecutor

    body = PHOTO.read_bytes()

    def post(_):
        return requests.post(f"{uploader.url}/v1/jobs", data=body, timeout=60,
                             headers={"Idempotency-Key": "burst-91d2", "Content-Type": "image/jpeg"})

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(post, range(10)))
    assert {a.status_code for a in answers} == {202}
    ids = {a.json()["id"] for a in answers}
    assert ids == {keyed_job_id("burst-91d2")}
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 9
    names = cluster.kubectl("get", api.PLURAL, "-n", uploader.namespace, "-o", "name").stdout.split()
    assert names.count(f"thumbnailjob.thumbnailer.dev/{keyed_job_id('burst-91d2')}") == 1
    job_id = ids.pop()
    assert [s for s in sources_in(cluster, uploader.namespace) if s.startswith(f"uploads/{uploader.namespace}/{job_id}")] \
        == [answers[0].json()["source"]["key"]]
    assert uploader.wait_done(job_id)["status"] == "succeeded"


def test_listing_is_a_stable_snapshot_while_jobs_are_being_created(uploader):
    for _ in range(3):
        uploader.post_image(PHOTO)
    first = requests.get(f"{uploader.url}/v1/jobs", params={"limit": 2}, timeout=10).json()
    snapshot = {i["id"] for i in requests.get(f"{uploader.url}/v1/jobs", params={"limit": 500}, timeout=10).json()["items"]}
    newcomers = {uploader.post_image(PHOTO).json()["id"] for _ in range(2)}  # created mid-listing
    seen, token = [i["id"] for i in first["items"]], first["continue"]
    while token:
        page = requests.get(f"{uploader.url}/v1/jobs", params={"limit": 2, "continue": token}, timeout=10).json()
        seen += [i["id"] for i in page["items"]]
        token = page["continue"]
    assert len(seen) == len(set(seen)) and set(seen) == snapshot and not newcomers & set(seen)


def test_listing_pages_newest_first_and_filters_by_status(uploader):
    ids = [uploader.post_image(PHOTO).json()["id"] for _ in range(3)]
    for job_id in ids:
        uploader.wait_done(job_id)
    seen, token = [], None
    while True:
        params = {"limit": 2, **({"continue": token} if token else {})}
        page = requests.get(f"{uploader.url}/v1/jobs", params=params, timeout=10).json()
        assert len(page["items"]) <= 2
        seen += [i["id"] for i in page["items"]]
        token = page["continue"]
        if not token:
            break
    uploaded = [i for i in seen if i.startswith("tj-")]
    assert uploaded.index(ids[2]) < uploaded.index(ids[1]) < uploaded.index(ids[0])  # newest first
    assert len(seen) == len(set(seen))
    done = requests.get(f"{uploader.url}/v1/jobs", params={"status": "succeeded", "limit": 500}, timeout=10).json()
    assert set(ids) <= {i["id"] for i in done["items"]} and all(i["status"] == "succeeded" for i in done["items"])
    failed = requests.get(f"{uploader.url}/v1/jobs", params={"status": "failed", "limit": 500}, timeout=10).json()
    assert not set(ids) & {i["id"] for i in failed["items"]}


def test_thumbnail_has_etag_cache_control_and_a_filename(uploader):
    job_id = uploader.post_image(PHOTO).json()["id"]
    uploader.wait_done(job_id)
    url = f"{uploader.url}/v1/jobs/{job_id}/thumbnail"
    first = requests.get(url, timeout=10)
    assert first.status_code == 200 and first.headers["ETag"].startswith('"')
    assert "private" in first.headers["Cache-Control"]
    assert first.headers["Content-Disposition"] == f'inline; filename="{job_id}.jpg"'
    again = requests.get(url, headers={"If-None-Match": first.headers["ETag"]}, timeout=10)
    assert again.status_code == 304 and again.content == b""
    changed = requests.get(url, headers={"If-None-Match": '"something-else"'}, timeout=10)
    assert changed.status_code == 200 and changed.content == first.content
    # RFC 9110, 13.1.2: If-None-Match compares weakly, and * matches any current representation.
    for header in (f'W/{first.headers["ETag"]}', "*", f'"other", {first.headers["ETag"]}'):
        assert requests.get(url, headers={"If-None-Match": header}, timeout=10).status_code == 304, header
    head = requests.head(url, timeout=10)  # GET's headers from the object's metadata, no body
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == str(len(first.content))
    assert {k: head.headers[k] for k in ("ETag", "Content-Type", "Content-Disposition", "Cache-Control")} == {
        k: first.headers[k] for k in ("ETag", "Content-Type", "Content-Disposition", "Cache-Control")}


def test_delete_removes_the_job_its_thumbnail_and_its_source(cluster, uploader):
    job_id = uploader.post_image(PHOTO).json()["id"]
    done = uploader.wait_done(job_id)
    assert requests.get(uploader.url + done["thumbnail_url"], timeout=10).status_code == 200
    assert requests.delete(f"{uploader.url}/v1/jobs/{job_id}", timeout=10).status_code == 204
    # At once, while the finalizer still cleans the store: gone for the API (not a new, pending job).
    assert requests.get(f"{uploader.url}/v1/jobs/{job_id}", timeout=10).status_code == 404
    listed = requests.get(f"{uploader.url}/v1/jobs", params={"limit": 500}, timeout=10).json()["items"]
    assert job_id not in {i["id"] for i in listed}
    cluster.kubectl("wait", "--for=delete", "-n", uploader.namespace, f"thumbnailjob/{job_id}", "--timeout=60s")
    assert requests.get(f"{uploader.url}/v1/jobs/{job_id}", timeout=10).status_code == 404
    cluster.kubectl("wait", "--for=delete", "-n", uploader.namespace, f"job/{job_id}-g1", "--timeout=60s")
    s3 = cluster.s3.client()
    leftovers = [o.object_name for prefix in ("uploads/", "thumbnails/")
                 for o in s3.list_objects(cluster.s3.bucket, f"{prefix}{uploader.namespace}/{job_id}", recursive=True)]
    assert leftovers == []  # the operator's Delete policy removed the source and the thumbnail


@pytest.mark.parametrize("multipart", [False, True], ids=["raw", "multipart"])
def test_chunked_upload_is_refused_with_411_not_half_read(cluster, uploader, multipart):
    data = PHOTO.read_bytes()
    content_type = "image/jpeg"
    if multipart:
        from urllib3 import encode_multipart_formdata

        data, content_type = encode_multipart_formdata({"image": ("photo.jpg", data, "image/jpeg")})
    before = thumbnailjobs_in(cluster, uploader.namespace)
    url = urlparse(uploader.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.putrequest("POST", "/v1/jobs")
    conn.putheader("Content-Type", content_type)
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    conn.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data))
    resp = conn.getresponse()
    assert resp.status == 411
    assert json.loads(resp.read())["type"].endswith("length-required")
    assert thumbnailjobs_in(cluster, uploader.namespace) == before


def test_oversized_upload_is_413_from_content_length_without_reading_it(cluster, uploader, tmp_path):
    small = start_uploader(cluster, tmp_path, namespace=uploader.namespace, MAX_UPLOAD_BYTES="10000")
    try:
        url = urlparse(small.url)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        conn.putrequest("POST", "/v1/jobs")
        conn.putheader("Content-Type", "image/jpeg")
        conn.putheader("Content-Length", str(50 * 1024 * 1024))
        conn.endheaders()
        conn.send(b"\xff\xd8" + b"\0" * 1000)  # the rest never comes: the answer must not wait for it
        resp = conn.getresponse()
        assert resp.status == 413 and json.loads(resp.read())["limit"] == 10000
    finally:
        small.process.stop()


def api_server_errors(url: str) -> float:
    """The uploader's count of failed calls to the API server (/metrics)."""
    for line in requests.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith('thumbnailer_dependency_errors_total{dependency="kubernetes-api"}'):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.parametrize("token", ["bogus", "bm90LWEtdG9rZW4="])
def test_a_malformed_continue_token_is_400_naming_it_not_an_api_server_outage(uploader, token):
    before = api_server_errors(uploader.url)
    resp = requests.get(f"{uploader.url}/v1/jobs", params={"continue": token}, timeout=10)
    assert resp.status_code == 400 and resp.headers["Content-Type"] == "application/problem+json"
    assert resp.json()["parameter"] == "continue" and "Retry-After" not in resp.headers
    assert api_server_errors(uploader.url) == before  # not counted as an API-server failure


def test_an_idempotency_key_reused_with_other_parameters_is_422(cluster, uploader):
    def post(**params):
        return requests.post(f"{uploader.url}/v1/jobs", data=PHOTO.read_bytes(), params=params, timeout=30,
                             headers={"Idempotency-Key": "params-5c1e", "Content-Type": "image/jpeg"})

    first = post()
    assert first.status_code == 202
    clash = post(width=50)
    assert clash.status_code == 422 and clash.headers["Content-Type"] == "application/problem+json"
    assert clash.json()["type"].endswith("idempotency-key-reused") and "width 50" in clash.json()["detail"]
    same = post(width=100, fit="cover")  # the defaults, written out
    assert same.status_code == 202 and same.json()["id"] == first.json()["id"]
    assert first.json()["id"] == keyed_job_id("params-5c1e")
    assert uploader.job(first.json()["id"])["id"] == first.json()["id"]  # the one job, still there


def read_answer(sock: socket.socket) -> tuple[int, dict, bytes, bool]:
    """Read one HTTP/1.1 answer with a Content-Length from ``sock``: (status, headers, body, closed after)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed without an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk, "connection closed in the middle of the answer"
        body += chunk
    closed = sock.recv(1) == b""
    return int(lines[0].split()[1]), headers, body, closed


def test_stalled_uploads_get_408_and_do_not_keep_healthz_waiting(cluster, namespace, tmp_path):
    """As many clients as the uploader has threads announce 100000 bytes, send 1000 and stall."""
    threads, read_timeout = 4, 2
    up = start_uploader(cluster, tmp_path, namespace=namespace, UPLOADER_THREADS=str(threads),
                        BODY_READ_TIMEOUT_SECONDS=str(read_timeout))
    url = urlparse(up.url)
    stalled = []
    try:
        for _ in range(threads):
            s = socket.create_connection((url.hostname, url.port), timeout=read_timeout + 15)
            s.sendall(b"POST /v1/jobs HTTP/1.1\r\nHost: uploader\r\nContent-Type: image/jpeg\r\n"
                      b"Content-Length: 100000\r\n\r\n" + PHOTO.read_bytes()[:1000])
            stalled.append(s)
        started = time.monotonic()
        health = requests.get(f"{up.url}/healthz", timeout=read_timeout + 10)
        assert health.status_code == 200 and time.monotonic() - started < read_timeout + 5
        for s in stalled:
            status, headers, body, closed = read_answer(s)
            assert status == 408 and headers["content-type"] == "application/problem+json"
            assert headers["connection"] == "close" and closed
            problem = json.loads(body)
            assert problem["status"] == 408 and problem["type"].endswith("request-timeout")
        assert sources_in(cluster, namespace) == []  # nothing left in the bucket
        assert thumbnailjobs_in(cluster, namespace) == []
        assert requests.get(f"{up.url}/readyz", timeout=10).status_code == 200
    finally:
        for s in stalled:
            s.close()
        up.process.stop()


def test_gunicorn_refusals_are_problem_json_and_every_log_line_is_json(uploader):
    url = urlparse(uploader.url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as s:
        s.sendall(b"GARBAGE\r\n\r\n")
        status, headers, body, closed = read_answer(s)
    # gunicorn's own answer, before the app runs
    assert (status, headers["content-type"], headers["connection"], closed) == (
        400, "application/problem+json", "close", True)
    problem = json.loads(body)
    assert problem["status"] == 400 and problem["type"].endswith("/bad-request") and "GARBAGE" in problem["detail"]
    long_line = requests.get(f"{uploader.url}/v1/jobs", params={"continue": "x" * 5000}, timeout=10)
    assert long_line.status_code == 414  # over limit_request_line (uploader/gunicorn_conf.py)
    assert long_line.headers["content-type"] == "application/problem+json"
    assert long_line.json()["type"].endswith("/uri-too-long")
    assert long_line.json()["detail"] == "the request line is longer than 4094 bytes"
    with socket.create_connection((url.hostname, url.port), timeout=10) as s:
        s.sendall("GET /v1/jobs?status=\u00e9chou\u00e9 HTTP/1.1\r\nHost: x\r\n\r\n".encode())  # raw UTF-8, as curl sends it
        status, headers, body, closed = read_answer(s)
    assert status == 400 and "percent-encode" in json.loads(body)["detail"], body
    many = requests.get(f"{uploader.url}/healthz", headers={f"X-H{i}": "1" for i in range(150)}, timeout=10)
    assert many.status_code == 431 and many.json()["title"] == "Request Header Fields Too Large"
    log = uploader.component.process.log_path

    def records():
        return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]

    deadline = time.monotonic() + 10
    while not any(r["logger"] == "gunicorn.error" and "Invalid request" in r["message"] for r in records()):
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.2)
    loggers = {r["logger"] for r in records()}
    assert {"gunicorn.error", "uploader.access"} <= loggers and "gunicorn.access" not in loggers, loggers
    # A refusal the app never saw carries no request ID, not the one its thread served last.
    refused = [r for r in records() if r["logger"] == "gunicorn.error" and "Invalid request" in r["message"]]
    assert refused and all(r.get("request_id") == "-" for r in refused), refused


def test_an_early_413_closes_the_connection_instead_of_draining_the_body(uploader):
    """60 MB announced, a few bytes sent: the answer comes at once, says close, and the server hangs up."""
    url = urlparse(uploader.url)
    with socket.create_connection((url.hostname, url.port), timeout=20) as s:
        s.sendall(b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                  b"Content-Length: 60000000\r\n\r\n\x89PNG\r\n\x1a\n")
        status, headers, body, closed = read_answer(s)
    assert status == 413 and headers["content-type"] == "application/problem+json"
    assert headers.get("connection") == "close" and closed


def test_an_upload_cut_off_by_the_client_is_400_and_nothing_is_stored(cluster, crd, namespace, tmp_path):
    """The client sends half of what its Content-Length announced and closes its side: raw and multipart."""
    up = start_uploader(cluster, tmp_path, namespace=namespace)
    url = urlparse(up.url)
    photo = PHOTO.read_bytes()
    boundary = "cut0ff"
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"p.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + photo + f"\r\n--{boundary}--\r\n".encode()
    try:
        for content_type, body in (("image/jpeg", photo), (f"multipart/form-data; boundary={boundary}", form)):
            with socket.create_connection((url.hostname, url.port), timeout=20) as s:
                s.sendall(f"POST /v1/jobs HTTP/1.1\r\nHost: uploader\r\nContent-Type: {content_type}\r\n"
                          f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:len(body) // 2])
                s.shutdown(socket.SHUT_WR)
                status, headers, answer, closed = read_answer(s)
            assert (status, headers["content-type"], headers["connection"], closed) == (
                400, "application/problem+json", "close", True), (content_type, answer)
            problem = json.loads(answer)
            assert problem["type"].endswith("/incomplete-body") and str(len(body)) in problem["detail"]
        assert sources_in(cluster, namespace) == [] and thumbnailjobs_in(cluster, namespace) == []
        whole = requests.post(f"{up.url}/v1/jobs", data=photo, headers={"Content-Type": "image/jpeg"}, timeout=30)
        assert whole.status_code == 202  # the same upload, whole, is taken
    finally:
        up.process.stop()


def metric_total(text: str, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``, from Prometheus text."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_several_workers_serve_and_metrics_add_up_across_them(cluster, namespace, tmp_path):
    """UPLOADER_WORKERS=3: three gunicorn workers, and /metrics (whichever answers) counts every request."""
    many = start_uploader(cluster, tmp_path, namespace=namespace, UPLOADER_WORKERS="3", UPLOADER_THREADS="2")
    try:
        children = Path(f"/proc/{many.process.pid}/task/{many.process.pid}/children").read_text().split()
        assert len(children) == 3, children
        sessions = [requests.Session() for _ in range(6)]  # keep-alive: each connection sticks to a worker
        for i in range(60):
            assert sessions[i % 6].get(f"{many.url}/healthz", timeout=10).status_code == 200
        counts = {metric_total(requests.get(f"{many.url}/metrics", timeout=10).text,
                               "thumbnailer_http_requests_total", route="/healthz", method="GET", code="200")
                  for _ in range(6)}
        # The same on every scrape, whichever worker answered it: 60, plus start_uploader's readiness probe.
        assert len(counts) == 1 and 60 <= counts.pop() <= 62, counts
    finally:
        many.process.stop()
