"""The project's own processes on a :class:`~devcluster.stack.LocalCluster`:
the operator (Kopf) and the uploader (gunicorn), started exactly as a
Deployment would run them, plus the cluster objects they need (the CRD and the
S3 credentials Secret read by resizer pods)."""

from __future__ import annotations

import base64
import os
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .binaries import REPO_ROOT
from .processes import ManagedProcess, StartupError, free_port, port_is_listening
from .stack import LocalCluster

CRD_FILE = REPO_ROOT / "crds" / "thumbnailjob.yaml"
S3_SECRET = "thumbnailer-s3"


@dataclass
class Component:
    """A started component: its process, and its base URL if it serves HTTP."""

    name: str
    process: ManagedProcess
    url: str | None = None
    port: int | None = None


def install_crd(cluster: LocalCluster) -> None:
    """Apply ``crds/thumbnailjob.yaml`` and wait until it is Established."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_FILE))
    cluster.kubectl("wait", "--for=condition=Established", "crd/thumbnailjobs.thumbnailer.dev", "--timeout=60s")


def ensure_s3_secret(cluster: LocalCluster, namespace: str) -> None:
    """Create (or update) the Secret with the S3 credentials that resizer pods read in ``namespace``."""
    def b64(s: str) -> str:
        return base64.b64encode(s.encode()).decode()

    manifest = (f'{{"apiVersion":"v1","kind":"Secret","metadata":{{"name":"{S3_SECRET}","namespace":"{namespace}"}},'
                f'"data":{{"accessKey":"{b64(cluster.s3.access_key)}","secretKey":"{b64(cluster.s3.secret_key)}"}}}}')
    cluster.kubectl("apply", "-f", "-", input=manifest)


def _env(cluster: LocalCluster, extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **cluster.component_env(), **extra}


def _http_ok(url: str) -> bool:
    return urllib.request.urlopen(url, timeout=2).status == 200


def start_operator(cluster: LocalCluster, log_dir: Path, **settings: str) -> Component:
    """Run ``python -m thumbnail_operator`` against the cluster; waits for its liveness endpoint.

    ``settings`` override operator environment variables (e.g. ``RESYNC_SECONDS="2"``).
    """
    port = free_port()
    env = _env(cluster, {"S3_CREDENTIALS_SECRET": S3_SECRET, "LIVENESS_HOST": "127.0.0.1",
                         "LIVENESS_PORT": str(port), "METRICS_PORT": str(free_port()), "RESYNC_SECONDS": "5",
                         **settings})
    proc = ManagedProcess("operator", [sys.executable, "-m", "thumbnail_operator"], log_dir / "operator.log",
                          env=env, cwd=log_dir)
    url = f"http://127.0.0.1:{port}"
    proc.wait_until(lambda: _http_ok(f"{url}/healthz"), 60, "serving /healthz")
    return Component("operator", proc, url, port)


def start_uploader(cluster: LocalCluster, log_dir: Path, port: int = 0, namespace: str = "default",
                   **settings: str) -> Component:
    """Run the uploader under gunicorn on ``127.0.0.1:port`` (free port if 0); waits for ``/healthz``.

    gunicorn's settings are the chart's (``uploader/gunicorn_conf.py``); ``settings``
    override uploader environment variables (e.g. ``UPLOADER_THREADS="4"``).
    """
    port = port or free_port()
    if port_is_listening(port):
        raise StartupError(f"port {port} is already in use; stop whatever listens there (or `make down`)")
    env = _env(cluster, {"UPLOADER_NAMESPACE": namespace, "UPLOADER_BIND": f"127.0.0.1:{port}", **settings})
    proc = ManagedProcess("uploader", [
        sys.executable, "-m", "gunicorn", "-c", "python:uploader.gunicorn_conf", "uploader.app:create_app()",
    ], log_dir / "uploader.log", env=env, cwd=log_dir)
    url = f"http://127.0.0.1:{port}"
    proc.wait_until(lambda: _http_ok(f"{url}/healthz"), 60, "serving /healthz")
    return Component("uploader", proc, url, port)


def start_component(cluster: LocalCluster, name: str, log_dir: Path, uploader_port: int = 8000) -> Component:
    """Start ``make up``'s ``"operator"`` or ``"uploader"`` (on ``uploader_port``); also used to start
    one again after it exited."""
    if name == "operator":
        return start_operator(cluster, log_dir)
    return start_uploader(cluster, log_dir, port=uploader_port)


def start_components(cluster: LocalCluster, log_dir: Path, uploader_port: int = 8000) -> list[Component]:
    """What ``make up`` runs on top of the cluster: CRD, Secret, operator, uploader (on port 8000)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    install_crd(cluster)
    ensure_s3_secret(cluster, "default")
    started: list[Component] = []
    try:
        for name in ("operator", "uploader"):
            started.append(start_component(cluster, name, log_dir, uploader_port))
    except BaseException:
        for c in started:
            c.process.stop()
        raise
    return started
