"""Request IDs, structured JSON logs and Prometheus metrics for the uploader.

Logs are one JSON object per line on stderr (python-json-logger) with the
request ID of the request being served; they never contain image bytes or
credentials. Metrics use prometheus_client; with several gunicorn workers
(``UPLOADER_WORKERS``) each worker writes its samples to files in
``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode, set up by
:mod:`uploader.gunicorn_conf`) and ``/metrics``, whichever worker answers it, adds
up all of them.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import time
import uuid

import falcon
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

REQUESTS = Counter("thumbnailer_http_requests_total", "HTTP requests served.", ["route", "method", "code"])
LATENCY = Histogram("thumbnailer_http_request_duration_seconds", "Time to answer an HTTP request, seconds.",
                    ["route", "method"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
UPLOAD_BYTES = Histogram("thumbnailer_upload_bytes", "Size of accepted uploads, bytes.",
                         buckets=(1e4, 1e5, 5e5, 1e6, 5e6, 1e7, 2.5e7, 5e7, 1e8))
DEPENDENCY_ERRORS = Counter("thumbnailer_dependency_errors_total",
                            "Failed calls to the object store or the Kubernetes API server.", ["dependency"])


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


def json_handler() -> logging.Handler:
    """A stderr handler that writes each record as one JSON object with ``request_id``.

    The app's logging (:func:`configure_logging`) and gunicorn's own loggers
    (``logconfig_dict`` in ``uploader/gunicorn_conf.py``) both use it, so every
    line the uploader writes is JSON.
    """
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter("{levelname}{name}{message}{request_id}", style="{", timestamp="time",
                                       rename_fields={"levelname": "level", "name": "logger"}))
    handler.addFilter(_RequestIdFilter())
    return handler


def configure_logging(level: int = logging.INFO) -> None:
    """Send every log record to stderr as one JSON object with ``request_id``
    (Python warnings too: they would otherwise be plain text on stderr)."""
    root = logging.getLogger()
    root.handlers[:] = [json_handler()]
    root.setLevel(level)
    logging.captureWarnings(True)


_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"})


class RequestContext:
    """Falcon middleware: request ID in and out, one access log line and metrics per request."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        given = req.get_header(REQUEST_ID_HEADER) or ""
        req.context.request_id = given if _VALID_ID.match(given) else uuid.uuid4().hex
        req.context.started = time.perf_counter()
        _request_id.set(req.context.request_id)

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource, req_succeeded: bool) -> None:
        resp.set_header(REQUEST_ID_HEADER, req.context.get("request_id", "-"))
        route = req.uri_template or ("/docs/static" if req.path.startswith("/docs/static/") else "unmatched")
        elapsed = time.perf_counter() - req.context.get("started", time.perf_counter())
        code = resp.status_code if hasattr(resp, "status_code") else int(str(resp.status)[:3])
        # Any token is a valid method (RFC 9110 9.1): collapse unknown ones so a client cannot add series.
        method = req.method if req.method in _KNOWN_METHODS else "other"
        REQUESTS.labels(route, method, str(code)).inc()
        LATENCY.labels(route, method).observe(elapsed)
        logging.getLogger("uploader.access").info(
            "%s %s %s", req.method, req.path, code,
            extra={"method": req.method, "route": route, "status": code, "duration_s": round(elapsed, 4)})
        # The thread serves the next request (or logs gunicorn's own refusal of one) with no ID of this one.
        _request_id.set("-")


def metrics_text() -> bytes:
    """The Prometheus text exposition of every worker's metrics.

    Under ``PROMETHEUS_MULTIPROC_DIR`` (several workers) a fresh registry with
    prometheus_client's ``MultiProcessCollector`` sums the workers' files, as its
    multiprocess documentation prescribes; otherwise the default registry.
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()


class MetricsResource:
    """``GET /metrics``: Prometheus text exposition (all workers' metrics, summed)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = CONTENT_TYPE_LATEST
        resp.data = metrics_text()

    on_head = on_get  # falcon drops the body of a HEAD answer and keeps its headers
