"""The real-node tier: a control plane with a real kubelet, containerd, CNI, kube-proxy and
CoreDNS (devcluster.nodestack), the images built by hack/images.sh, and the chart installed
with ``helm install``. Nothing here skips: where the node cannot start, every test errors.

The session's other control plane (tests/conftest.py) keeps its development node; this one
is separate because its API server must listen where pods can reach it.
"""

from __future__ import annotations

import base64
import secrets

import pytest
import requests

import images
from chartrender import CHART
from devcluster import addons
from devcluster.components import CRD_FILE
from devcluster.nodestack import NodeCluster
from nodesuite import BUCKET, FULLNAME, NAMESPACE, RELEASE, S3_SECRET, Release, cluster_ip
from waiting import wait_for

@pytest.fixture(scope="session")
def node_images() -> images.Built:
    return images.build()


@pytest.fixture(scope="session")
def node_cluster(tmp_path_factory, binaries, node_images) -> NodeCluster:
    """The running node cluster, with the project's images loaded into containerd."""
    c = NodeCluster(tmp_path_factory.mktemp("node"), binaries)
    c.start([node_images.operator, node_images.resizer], images.base())
    yield c
    c.stop()


@pytest.fixture(scope="session")
def release(node_cluster) -> Release:
    """The chart, installed with ``helm install --wait`` into a namespace that enforces Pod Security
    "restricted", with versitygw as a pod for its external S3 store."""
    c = node_cluster
    c.kubectl("create", "namespace", NAMESPACE)
    c.kubectl("label", "namespace", NAMESPACE, "pod-security.kubernetes.io/enforce=restricted",
              "pod-security.kubernetes.io/enforce-version=latest")
    access, secret = "node" + secrets.token_hex(6), secrets.token_urlsafe(24)
    c.apply([{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": S3_SECRET, "namespace": NAMESPACE},
              "data": {"accessKey": base64.b64encode(access.encode()).decode(),
                       "secretKey": base64.b64encode(secret.encode()).decode()}}])
    c.apply(addons.s3_manifests(c.node_images["versitygw"], NAMESPACE, S3_SECRET, BUCKET))
    c.kubectl("-n", NAMESPACE, "rollout", "status", "deployment/s3", "--timeout=120s")
    values = ("--set", f"s3.endpoint=s3.{NAMESPACE}.svc.cluster.local:{addons.S3_PORT}",
              "--set", f"s3.existingSecret={S3_SECRET}", "--set", f"s3.bucket={BUCKET}")
    assert CRD_FILE.is_file()
    proc = c.helm("install", RELEASE, str(CHART), "--namespace", NAMESPACE, *values, "--wait", "--timeout", "4m",
                  check=False)
    if proc.returncode != 0:
        pods = c.kubectl("get", "pods", "-A", "-o", "wide", check=False).stdout
        events = c.kubectl("get", "events", "-n", NAMESPACE, "--sort-by=.lastTimestamp", check=False).stdout
        pytest.fail(f"helm install failed: {proc.stderr}\n{pods}\n{events[-6000:]}", pytrace=False)
    rel = Release(c, NAMESPACE, f"http://{cluster_ip(c, NAMESPACE, FULLNAME)}",
                  f"{cluster_ip(c, NAMESPACE, 's3')}:{addons.S3_PORT}", access, secret, values)
    wait_for(lambda: requests.get(f"{rel.uploader}/readyz", timeout=5).status_code == 200, 60,
             what="the uploader's Service to answer")
    return rel
