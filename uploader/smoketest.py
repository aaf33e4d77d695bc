"""``python -m uploader.smoketest --url URL``: prove a running thumbnailer works end to end.

Uploads a small generated image to the uploader, polls the job until it
succeeds (or fails), fetches the thumbnail and checks that it decodes to the
requested size. It is the chart's ``helm test`` pod, and works the same from a
laptop against a port-forward (``kubectl port-forward svc/<release>-thumbnailer 8000:80``)
or against ``make up`` (``--url http://127.0.0.1:8000``).

HTTP is the standard library's ``urllib`` (the operator image has no
``requests``); Pillow, which the uploader needs anyway, draws and decodes the images.

Outcome: exit 0 and a one-line summary, or exit 1 and a one-line reason. The
line is printed and also written to the termination message file
(``$TERMINATION_MESSAGE_PATH``, else ``/dev/termination-log`` when it exists), so
``kubectl get pod -o jsonpath='{.status.containerStatuses[0].state.terminated.message}'``
shows it without the log.

The job is left in place (its ID is in the summary), so ``kubectl get thumbnailjobs``
shows what the test did; ``DELETE /v1/jobs/{id}`` removes it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

#: Answers worth retrying while the deadline allows: the uploader or a dependency is not ready yet.
RETRYABLE_STATUS = {502, 503, 504}
POLL_SECONDS = 1.0


class SmokeTestFailed(Exception):
    """The service did not do what it should; the message says what happened."""


def make_image(width: int = 320, height: int = 240) -> bytes:
    """An opaque PNG gradient of ``width`` x ``height`` pixels (the uploader accepts PNG)."""
    from PIL import Image

    img = Image.new("RGB", (width, height))
    img.putdata([(x * 255 // width, y * 255 // height, 128) for y in range(height) for x in range(width)])
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def request(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None,
            timeout: float = 10) -> tuple[int, dict, bytes]:
    """One HTTP request; returns (status, headers, body) for any HTTP answer, including 4xx and 5xx.

    Raises :class:`OSError` (``urllib.error.URLError``) when no answer comes (refused, DNS, timeout).
    """
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def problem_text(status: int, body: bytes) -> str:
    """A short description of an error answer (RFC 9457 problem details when the body is one)."""
    try:
        p = json.loads(body)
        return f"{status} {p.get('title', '')}: {p.get('detail', '')}".strip()
    except ValueError:
        return f"{status} {body[:200].decode('utf-8', 'replace')}"


def upload(base_url: str, image: bytes, width: int, height: int, deadline: float) -> dict:
    """POST the image as the raw body; retries refused connections and 502/503/504 until ``deadline``.

    An Idempotency-Key makes a retry after a lost answer return the same job. Returns the job JSON.
    """
    url = f"{base_url}/v1/jobs?" + urllib.parse.urlencode({"width": width, "height": height, "fit": "cover"})
    headers = {"Content-Type": "image/png", "Idempotency-Key": f"smoketest-{uuid.uuid4()}"}
    last = ""
    while True:
        try:
            status, _, body = request(url, "POST", image, headers, timeout=30)
        except OSError as e:
            last = f"cannot reach the uploader at {base_url}: {getattr(e, 'reason', e)}"
        else:
            if status == 202:
                return json.loads(body)
            last = f"upload to {base_url}/v1/jobs answered {problem_text(status, body)}"
            if status not in RETRYABLE_STATUS:
                raise SmokeTestFailed(last)
        if time.monotonic() >= deadline:
            raise SmokeTestFailed(f"{last} (gave up after the timeout)")
        time.sleep(POLL_SECONDS)


def wait_for_job(base_url: str, job_id: str, deadline: float) -> dict:
    """Poll ``GET /v1/jobs/{id}`` until its status is ``succeeded``; returns the job JSON.

    Raises :class:`SmokeTestFailed` at once when it is ``failed`` (with the job's reason and
    message), or at ``deadline`` while it is still processing (with its phase and reason).
    """
    job: dict = {}
    while True:
        try:
            status, _, body = request(f"{base_url}/v1/jobs/{job_id}")
        except OSError as e:
            status, body = 0, str(getattr(e, "reason", e)).encode()
        if status == 200:
            job = json.loads(body)
            if job["status"] == "succeeded":
                return job
            if job["status"] == "failed":
                raise SmokeTestFailed(f"job {job_id} failed: {job.get('reason')}: {job.get('message')}")
        elif status not in (0, *RETRYABLE_STATUS):
            raise SmokeTestFailed(f"reading job {job_id} answered {problem_text(status, body)}")
        if time.monotonic() >= deadline:
            raise SmokeTestFailed(f"job {job_id} still {job.get('status', 'unknown')} at the timeout "
                                  f"(phase {job.get('phase')}, reason {job.get('reason')}: {job.get('message')})")
        time.sleep(POLL_SECONDS)


def check_thumbnail(base_url: str, job: dict, width: int, height: int) -> dict:
    """Fetch the job's ``thumbnail_url`` and check it decodes to ``width`` x ``height``.

    Returns ``{"width", "height", "content_type", "bytes"}`` of what was fetched.
    """
    from PIL import Image

    url = urllib.parse.urljoin(base_url + "/", job["thumbnail_url"])
    try:
        status, headers, body = request(url, timeout=30)
    except OSError as e:
        raise SmokeTestFailed(f"cannot fetch the thumbnail {url}: {getattr(e, 'reason', e)}") from e
    if status != 200:
        raise SmokeTestFailed(f"thumbnail {url} answered {problem_text(status, body)}")
    try:
        with Image.open(io.BytesIO(body)) as img:
            img.load()
            size = img.size
    except Exception as e:  # any decoder error means a broken thumbnail
        raise SmokeTestFailed(f"thumbnail of job {job['id']} does not decode: {e}") from e
    if size != (width, height):
        raise SmokeTestFailed(f"thumbnail of job {job['id']} is {size[0]}x{size[1]}, expected {width}x{height}")
    content_type = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    return {"width": size[0], "height": size[1], "content_type": content_type, "bytes": len(body)}


def run(base_url: str, timeout: float, width: int = 100, height: int = 100) -> str:
    """The whole check; returns the success summary or raises :class:`SmokeTestFailed`."""
    base_url = base_url.rstrip("/")
    deadline = time.monotonic() + timeout
    job = upload(base_url, make_image(), width, height, deadline)
    print(f"uploaded: job {job['id']}", flush=True)
    job = wait_for_job(base_url, job["id"], deadline)
    print(f"job {job['id']} succeeded: {job.get('message')}", flush=True)
    thumb = check_thumbnail(base_url, job, width, height)
    return (f"ok: job {job['id']} succeeded; thumbnail {thumb['width']}x{thumb['height']} "
            f"{thumb['content_type']}, {thumb['bytes']} bytes")


def report(message: str) -> None:
    """Write ``message`` to the termination message file, when there is one."""
    path = os.environ.get("TERMINATION_MESSAGE_PATH", "").strip() or "/dev/termination-log"
    if "TERMINATION_MESSAGE_PATH" not in os.environ and not os.path.exists(path):
        return  # not in a pod
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(message[:4000])
    except OSError:
        pass  # the printed line still has it


def base_url(text: str) -> str:
    """An argparse type: an http(s) URL with a host, without a trailing slash (else a usage error, exit 2)."""
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an http:// or https:// URL (e.g. http://127.0.0.1:8000)")
    return text.rstrip("/")


def positive(kind):
    """An argparse type: a number of ``kind`` above 0."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
        return value
    return parse


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns 0 when the thumbnail came back right, 1 otherwise."""
    parser = argparse.ArgumentParser(prog="python -m uploader.smoketest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", type=base_url, default=os.environ.get("UPLOADER_URL", "http://127.0.0.1:8000"),
                        help="base URL of the uploader (default: $UPLOADER_URL, else http://127.0.0.1:8000)")
    parser.add_argument("--timeout", type=positive(float), default=120, help="seconds for the whole check (default 120)")
    parser.add_argument("--width", type=positive(int), default=100, help="thumbnail width to ask for (default 100)")
    parser.add_argument("--height", type=positive(int), default=100, help="thumbnail height to ask for (default 100)")
    args = parser.parse_args(argv)
    try:
        message, code = run(args.url, args.timeout, args.width, args.height), 0
    except SmokeTestFailed as e:
        message, code = f"FAILED: {e}", 1
    print(message, flush=True)
    report(message)
    return code


if __name__ == "__main__":
    sys.exit(main())
