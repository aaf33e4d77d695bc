"""Session-wide fixtures: the real local control plane and S3 server.

The integration tier never skips: if the binaries cannot be built or a server
cannot start, the ``cluster`` fixture raises and every test that uses it
errors (so CI fails, as it must).
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest
from kubernetes import client, config

from devcluster.binaries import Binaries
from devcluster.stack import LocalCluster

REPO_ROOT = Path(__file__).resolve().parent.parent
# Shared test helpers (casecheck.py, waiting.py) live beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def binaries() -> Binaries:
    return Binaries.provision()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory, binaries: Binaries):
    """A started :class:`LocalCluster` shared by the whole session."""
    c = LocalCluster(tmp_path_factory.mktemp("cluster"), binaries).start()
    yield c
    c.stop()


@pytest.fixture(scope="session")
def api_client(cluster: LocalCluster) -> client.ApiClient:
    return config.new_client_from_config(str(cluster.kubeconfig))


@pytest.fixture
def namespace(cluster: LocalCluster, api_client: client.ApiClient):
    """A fresh namespace for one test, deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    core = client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)
