"""The real-node tier: a control plane with a real kubelet, containerd, CNI, kube-proxy and
CoreDNS (devcluster.nodestack), the images built by hack/images.sh, and the chart installed
with ``helm install``. Nothing here skips: where the node cannot start, every test errors.

The session's other control plane (tests/conftest.py) keeps its development node; this one
is separate because its API server must listen where pods can reach it.
"""

from __future__ import annotations

import pytest
import requests

import images
from chartscenarios import RELEASE, Release
from devcluster.nodestack import NodeCluster
from waiting import wait_for

NAMESPACE = "thumbnailer"


def ready(url: str) -> bool:
    """Whether ``url``/readyz answers 200. A refused connection is "not yet": kube-proxy writes a new
    Service's iptables rules a moment after ``helm install --wait`` returns (clean-clone CI hit this)."""
    try:
        return requests.get(f"{url}/readyz", timeout=5).status_code == 200
    except requests.ConnectionError:
        return False


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
    "restricted", with versitygw as a pod for its external S3 store (NodeCluster.install)."""
    try:
        inst = node_cluster.install(NAMESPACE, RELEASE)
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    rel = Release(node_cluster, inst.namespace, inst.uploader, inst.s3_endpoint, inst.access_key, inst.secret_key,
                  inst.values)
    wait_for(lambda: ready(rel.uploader), 60, what="the uploader's Service to answer")
    return rel
