"""Fixtures that run the project's own processes on the local cluster:
the operator (a real Kopf process) and uploaders (real gunicorn processes)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import requests
from kubernetes import client

from devcluster.components import ensure_s3_secret, install_crd, start_operator, start_uploader
from waiting import wait_for


@pytest.fixture(scope="session")
def crd(cluster):
    install_crd(cluster)


@pytest.fixture(scope="session")
def operator(cluster, crd, tmp_path_factory):
    """The operator, watching all namespaces, for the whole session."""
    # Namespaces named op-* belong to the operator tests, which run operators of their own.
    c = start_operator(cluster, tmp_path_factory.mktemp("operator"), RESYNC_SECONDS="3", WATCH_NAMESPACE="!op-*")
    yield c
    c.process.stop()


@pytest.fixture
def ns(cluster, crd, api_client):
    """A fresh ``op-*`` namespace with the S3 Secret, for a test that runs operators of its own."""
    name = f"op-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(api_client).create_namespace({"metadata": {"name": name}})
    ensure_s3_secret(cluster, name)
    yield name
    client.CoreV1Api(api_client).delete_namespace(name)


@pytest.fixture
def operators(cluster, ns, tmp_path):
    """Start operators for ``ns`` on demand (settings as keyword arguments); all are stopped at the end."""
    started = []

    def start(**settings):
        op = start_operator(cluster, tmp_path / f"op{len(started)}", WATCH_NAMESPACE=ns, **settings)
        started.append(op)
        return op

    yield start
    for op in started:
        op.process.stop()


def _new_namespace(api_client, with_secret: bool, cluster) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    client.CoreV1Api(api_client).create_namespace({"metadata": {"name": name}})
    if with_secret:
        ensure_s3_secret(cluster, name)
    return name


class Uploader:
    """A running uploader and the namespace it serves."""

    def __init__(self, component, namespace: str):
        self.component, self.namespace, self.url = component, namespace, component.url

    def post_image(self, path: Path, **params) -> requests.Response:
        with open(path, "rb") as f:
            return requests.post(f"{self.url}/v1/jobs", files={"image": (path.name, f)}, params=params,
                                 timeout=30)

    def job(self, job_id: str) -> dict:
        return requests.get(f"{self.url}/v1/jobs/{job_id}", timeout=10).json()

    def wait_done(self, job_id: str, timeout: float = 90) -> dict:
        return wait_for(lambda: (j := self.job(job_id))["status"] != "processing" and j,
                        timeout=timeout, what=f"job {job_id} to finish")


@pytest.fixture(scope="module")
def uploader(cluster, api_client, operator, tmp_path_factory):
    """An uploader serving a fresh namespace that has the S3 credentials Secret."""
    ns = _new_namespace(api_client, True, cluster)
    c = start_uploader(cluster, tmp_path_factory.mktemp("uploader"), namespace=ns)
    yield Uploader(c, ns)
    c.process.stop()


@pytest.fixture
def uploader_without_secret(cluster, api_client, operator, tmp_path):
    """An uploader whose namespace lacks the S3 Secret: resizer pods cannot start there yet."""
    ns = _new_namespace(api_client, False, cluster)
    c = start_uploader(cluster, tmp_path, namespace=ns)
    yield Uploader(c, ns)
    c.process.stop()
