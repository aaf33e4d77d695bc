"""gunicorn's settings for the uploader: the one place they live.

Every way of running the uploader (the chart, ``docker compose``, ``make up``
and the tests through ``devcluster.components.start_uploader``) starts::

    gunicorn -c python:uploader.gunicorn_conf 'uploader.app:create_app()'

``UPLOADER_BIND``, ``UPLOADER_WORKERS`` and ``UPLOADER_THREADS`` come from the
uploader's settings (:class:`uploader.settings.UploaderSettings`); the rest is
fixed here.

``UPLOADER_WORKERS`` processes, each with ``UPLOADER_THREADS`` threads. With more
than one, prometheus_client's multiprocess mode adds their metrics up: the master
sets ``PROMETHEUS_MULTIPROC_DIR`` (a fresh directory under /tmp, the pod's writable
emptyDir) before any worker imports prometheus_client, and tells it when a worker
exits (``child_exit``), as prometheus_client's documentation for gunicorn says. gunicorn's own
log lines (``gunicorn.error``) go through the app's JSON handler, so every
line is JSON; the access lines are the app's own.

Requests gunicorn refuses before the app runs (request line over
``limit_request_line`` bytes: 414; more than ``limit_request_fields`` header
fields or one over ``limit_request_field_size`` bytes: 431; a malformed
request line or header: 400) are answered by gunicorn itself, as
problem+json like the app's own errors (:mod:`uploader.gunicorn_errors`).
"""

from __future__ import annotations

import os
import shutil
import tempfile

from uploader import gunicorn_errors
from uploader.settings import UploaderSettings

_settings = UploaderSettings()
#: Where the metric files of one run go (under /tmp, the pod's writable emptyDir).
_METRICS_DIR_PREFIX = "/tmp/uploader-metrics-"
bind = [_settings.bind]
workers = _settings.workers
if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Before anything imports prometheus_client (it picks its value store at import), in the
    # master and so in every worker forked from it.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=os.path.basename(_METRICS_DIR_PREFIX),
                                                              dir=os.path.dirname(_METRICS_DIR_PREFIX))
gunicorn_errors.install()

worker_class = "gthread"
threads = _settings.threads
#: The worker's heartbeat file: /tmp is the pod's writable emptyDir (read-only root file system).
worker_tmp_dir = "/tmp"
#: No ``gunicornc`` control socket (it would need a writable $HOME or $XDG_RUNTIME_DIR).
control_socket_disable = True
#: A worker whose main loop is silent this long is restarted (gthread: not a per-request limit).
timeout = 60
#: Requests in flight get this long after SIGTERM; below Kubernetes' default 30 s grace period.
graceful_timeout = 25
#: Idle keep-alive connections wait in the poller (not in a thread) this long for the next request.
keepalive = 5
#: Longest request line (method, path and query), bytes; longer is gunicorn's 414.
limit_request_line = 4094
#: Most header fields in a request; more is gunicorn's 431.
limit_request_fields = 100
#: Longest header field, bytes; longer is gunicorn's 431.
limit_request_field_size = 8190

loglevel = "info"
#: gunicorn's loggers propagate to the root logger, which writes JSON lines to stderr
#: (uploader.observability.json_handler); the app installs the same handler when it loads.
#: gunicorn's access log stays quiet (any logconfig_dict turns it on): the app writes one
#: JSON access line per request itself (logger ``uploader.access``, with route, status,
#: duration and request ID).
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": "INFO", "handlers": ["json"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": True},
    },
    "handlers": {"json": {"()": "uploader.observability.json_handler"}},
    "formatters": {},
}


def child_exit(server, worker) -> None:
    """gunicorn hook: a worker is gone; its live samples no longer count (prometheus_client multiprocess)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    """gunicorn hook: the master stops; the metric files of this run go with it."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if directory.startswith(_METRICS_DIR_PREFIX):
        shutil.rmtree(directory, ignore_errors=True)
