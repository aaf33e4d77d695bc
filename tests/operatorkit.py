"""Helpers of the operator tests (tests/integration/test_operator.py, test_batches.py): ThumbnailJobs
applied with kubectl, their Jobs, a source photo in the store, and kill -9 of an operator."""

from __future__ import annotations

import io
import json
import os
import signal
from pathlib import Path

from thumbnailer import api

PHOTO = Path(__file__).resolve().parent / "data" / "photos" / "grace_hopper.jpg"
#: A resizer whose pod takes 4 s more: long enough to act while it runs.
SLOW_RESIZER = json.dumps(["sh", "-c", "sleep 4; exec python -m resizer"])


def kill9(op) -> None:
    """SIGKILL an operator started by ``devcluster.components.start_operator`` (its whole process group)."""
    os.killpg(op.process.pid, signal.SIGKILL)
    op.process.popen.wait(10)


def put_source(cluster, key: str, data: bytes | None = None, content_type: str = "image/jpeg") -> None:
    """Store ``data`` (default: the test photo) as ``key`` in the cluster's bucket."""
    data = PHOTO.read_bytes() if data is None else data
    cluster.s3.client().put_object(cluster.s3.bucket, key, io.BytesIO(data), len(data), content_type=content_type)


def apply(cluster, ns: str, name: str, **spec) -> str:
    """``kubectl apply`` a ThumbnailJob (source ``op/photo.jpg`` unless ``spec`` says otherwise); returns the manifest."""
    manifest = {"apiVersion": api.API_VERSION, "kind": api.KIND, "metadata": {"name": name, "namespace": ns},
                "spec": {"source": {"key": "op/photo.jpg"}, **spec}}
    text = json.dumps(manifest)
    cluster.kubectl("apply", "-f", "-", input=text)
    return text


def tj(cluster, ns: str, name: str) -> dict:
    """The ThumbnailJob as ``kubectl get -o json`` shows it."""
    return json.loads(cluster.kubectl("get", "-n", ns, f"{api.PLURAL}/{name}", "-o", "json").stdout)


def jobs_of(cluster, ns: str, name: str) -> list[dict]:
    """The ThumbnailJob's own Jobs (label ``thumbnailer.dev/thumbnailjob``; not the batches it is in)."""
    out = cluster.kubectl("get", "jobs", "-n", ns, "-l", f"{api.GROUP}/thumbnailjob={name}", "-o", "json").stdout
    return json.loads(out)["items"]


def job_finished(job: dict) -> bool:
    """Whether a Job (dict) has a True Complete or Failed condition."""
    return any(c["type"] in ("Complete", "Failed") and c["status"] == "True"
               for c in (job.get("status") or {}).get("conditions") or [])
