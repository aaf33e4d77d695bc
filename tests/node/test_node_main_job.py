"""The chart on a real node: ``helm install``, ``helm test``, and the main job through real pods.

Every request here goes to a Service's ClusterIP (kube-proxy's rules), every resizer is a
container of thumbnailer-resizer in containerd, and the namespace enforces Pod Security
"restricted".
"""

from __future__ import annotations

import io
import json

import pytest
import requests
from PIL import Image

from nodesuite import FULLNAME, PHOTOS, RELEASE
from devcluster.realnode import NODE_NAME

pytestmark = pytest.mark.node
CASES = PHOTOS.parent / "cases"


def resizer_pods(release, job_id: str) -> list[dict]:
    return json.loads(release.kubectl("get", "pods", "-l", f"thumbnailer.dev/thumbnailjob={job_id}",
                                      "-o", "json").stdout)["items"]


def test_the_chart_installs_and_helm_test_passes(release):
    pods = json.loads(release.kubectl("get", "pods", "-o", "json").stdout)["items"]
    ours = [p for p in pods if p["metadata"]["name"].startswith(FULLNAME)]
    assert {p["spec"]["nodeName"] for p in ours} == {NODE_NAME}
    assert all(p["status"]["phase"] == "Running" for p in ours), [p["status"]["phase"] for p in ours]
    proc = release.cluster.helm("test", RELEASE, "--namespace", release.namespace, "--timeout", "5m", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Phase:          Succeeded" in proc.stdout


def test_a_photo_through_the_uploaders_service_becomes_a_100x100_thumbnail(release):
    reply = release.post(PHOTOS / "grace_hopper.jpg")
    assert reply.status_code == 202, reply.text
    job_id = reply.json()["id"]
    assert release.wait_done(job_id)["status"] == "succeeded"
    thumb = Image.open(io.BytesIO(requests.get(f"{release.uploader}/v1/jobs/{job_id}/thumbnail", timeout=30).content))
    assert (thumb.format, thumb.size) == ("JPEG", (100, 100))
    # The object is in the S3 pod's bucket, where the status says.
    out = release.resource(job_id)["status"]["output"]
    stat = release.s3().stat_object(out["bucket"], out["key"])
    assert stat.size == out["bytes"] > 0
    # The resizer ran as a container on the node, and its log is there for kubectl.
    pods = resizer_pods(release, job_id)
    assert pods and pods[0]["spec"]["nodeName"] == NODE_NAME
    logs = release.kubectl("logs", pods[0]["metadata"]["name"], "-c", "resizer")
    assert logs.returncode == 0


def test_a_corrupt_file_fails_with_its_reason_and_the_message_from_the_container(release):
    job_id = release.post(CASES / "c15_jpeg_truncated.jpg").json()["id"]
    done = release.wait_done(job_id)
    assert (done["status"], done["reason"]) == ("failed", "TruncatedImage")
    pod = resizer_pods(release, job_id)[0]
    state = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert state["exitCode"] == 65 and state["message"].startswith("TruncatedImage:")  # /dev/termination-log


def test_restricted_pod_security_refuses_a_violating_pod_and_admits_ours(release):
    bad = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "as-root"},
           "spec": {"containers": [{"name": "c", "image": "thumbnailer:0.1.0",
                                    "securityContext": {"runAsUser": 0}}]}}
    proc = release.kubectl("apply", "-f", "-", input=json.dumps(bad), check=False)
    assert proc.returncode != 0 and "violates PodSecurity" in proc.stderr and "restricted" in proc.stderr, proc.stderr
    # The same pod made compliant is admitted (the chart's pods, the S3 pod and every resizer
    # pod of the other tests run in this namespace too).
    good = json.loads(json.dumps(bad))
    good["metadata"]["name"] = "compliant"
    good["spec"]["containers"][0]["securityContext"] = {
        "allowPrivilegeEscalation": False, "runAsNonRoot": True, "runAsUser": 10001, "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"}}
    good["spec"]["containers"][0]["command"] = ["true"]
    good["spec"]["restartPolicy"] = "Never"
    assert release.kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(good)).returncode == 0


def test_the_resizer_container_is_non_root_read_only_and_has_no_token(release):
    """Checked from inside: a pod with exactly the resizer Job's pod spec, the command replaced."""
    job_id = release.post(PHOTOS / "coffee.png").json()["id"]
    assert release.wait_done(job_id)["status"] == "succeeded"
    job = json.loads(release.kubectl("get", "jobs", "-l", f"thumbnailer.dev/thumbnailjob={job_id}",
                                     "-o", "json").stdout)["items"][0]
    spec = job["spec"]["template"]["spec"]
    container = spec["containers"][0]
    container["command"] = ["sh", "-c", "id -u; id -g; (touch /probe 2>/dev/null && echo writable) || "
                            "echo read-only; touch /tmp/probe && echo tmp-writable; "
                            "ls /var/run/secrets/kubernetes.io/serviceaccount 2>/dev/null || echo no-token"]
    container.pop("args", None)
    spec["restartPolicy"] = "Never"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"inside-{job_id[-8:]}"}, "spec": spec}
    release.kubectl("apply", "-f", "-", input=json.dumps(pod))
    name = pod["metadata"]["name"]
    release.kubectl("wait", "--for=jsonpath={.status.phase}=Succeeded", f"pod/{name}", "--timeout=120s")
    out = release.kubectl("logs", name).stdout.split()
    release.kubectl("delete", "pod", name, "--wait=false")
    assert out == ["10001", "10001", "read-only", "tmp-writable", "no-token"], out
