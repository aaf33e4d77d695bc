"""The chart installed as a user would, on any cluster that runs real pods: a namespace that
enforces Pod Security "restricted", versitygw as a pod for its S3 store, ``helm install --wait``.

Used by the real node (:class:`devcluster.nodestack.NodeCluster`, ``make up NODE=real``,
tests/node) and by the kind suite (tests/e2e), so both run the chart the same way.
"""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
from dataclasses import dataclass
from typing import Protocol

from . import addons
from .binaries import REPO_ROOT

CHART = REPO_ROOT / "helm" / "thumbnailer"
#: The S3 credentials Secret and bucket of an installation.
S3_SECRET = "thumbnailer-s3"
BUCKET = "thumbnails"


class Cluster(Protocol):
    """What installing needs of a cluster: the pinned kubectl and helm against it."""

    def kubectl(self, *args: str, check: bool = True, input: str | None = None,
                timeout: float = 180) -> subprocess.CompletedProcess[str]: ...

    def helm(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]: ...


@dataclass(frozen=True)
class Installed:
    """A release: its namespace and name, the S3 credentials in :data:`S3_SECRET`, and the
    ``--set`` arguments it was installed with (repeat them on ``helm upgrade``)."""

    namespace: str
    release: str
    access_key: str
    secret_key: str
    values: tuple[str, ...]


def apply(cluster: Cluster, objects: list[dict]) -> None:
    """``kubectl apply --server-side`` of ``objects``."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-",
                    input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))


def install(cluster: Cluster, s3_image: str, namespace: str = "thumbnailer", release: str = "thumbs") -> Installed:
    """Create ``namespace`` (Pod Security "restricted", enforced), run versitygw (``s3_image``) in
    it with fresh credentials, and ``helm install --wait`` the chart against it.

    Raises ``RuntimeError`` with helm's error, the pods and the namespace's events when helm fails.
    """
    cluster.kubectl("create", "namespace", namespace)
    cluster.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted",
                    "pod-security.kubernetes.io/enforce-version=latest")
    access, secret = "node" + secrets.token_hex(6), secrets.token_urlsafe(24)
    apply(cluster, [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": S3_SECRET, "namespace": namespace},
                     "data": {"accessKey": base64.b64encode(access.encode()).decode(),
                              "secretKey": base64.b64encode(secret.encode()).decode()}}])
    apply(cluster, addons.s3_manifests(s3_image, namespace, S3_SECRET, BUCKET))
    cluster.kubectl("-n", namespace, "rollout", "status", "deployment/s3", "--timeout=120s")
    values = ("--set", f"s3.endpoint=s3.{namespace}.svc.cluster.local:{addons.S3_PORT}",
              "--set", f"s3.existingSecret={S3_SECRET}", "--set", f"s3.bucket={BUCKET}")
    proc = cluster.helm("install", release, str(CHART), "--namespace", namespace, *values, "--wait",
                        "--timeout", "4m", check=False)
    if proc.returncode != 0:
        pods = cluster.kubectl("get", "pods", "-A", "-o", "wide", check=False).stdout
        events = cluster.kubectl("get", "events", "-n", namespace, "--sort-by=.lastTimestamp", check=False).stdout
        raise RuntimeError(f"helm install failed: {proc.stderr}\n{pods}\n{events[-6000:]}")
    return Installed(namespace, release, access, secret, values)
