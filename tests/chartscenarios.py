"""The scenarios an installed chart must pass on any cluster that runs real pods: the real
node (tests/node) and kind (tests/e2e) both run exactly these, each with its own ``release``
fixture (a :class:`Release`).

What they prove: ``helm install`` and ``helm test``; the main job through the uploader's
Service and resizer containers; a corrupt file's reason from the container's termination
message; the restricted Pod Security profile; a non-root, read-only, token-less resizer (seen
from inside); the kernel's OOM killer; a deleted operator pod in a burst of uploads; a
rolling ``helm upgrade``; and every hostile case of tests/data/cases.
"""

from __future__ import annotations

import io
import json
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest
import requests
from PIL import Image

import hostile
import images
from casecheck import failures
from chartrender import CHART
from waiting import wait_for

PHOTOS = Path(__file__).resolve().parent / "data" / "photos"
CASES_DIR = PHOTOS.parent / "cases"
CASES = json.loads((CASES_DIR / "cases.json").read_text())
RELEASE = "thumbs"
FULLNAME = f"{RELEASE}-thumbnailer"


class Cluster(Protocol):
    """A cluster the chart is installed on: the pinned kubectl and helm, and a way to put images on its nodes."""

    def kubectl(self, *args: str, check: bool = True, input: str | None = None,
                timeout: float = 180) -> subprocess.CompletedProcess[str]: ...

    def helm(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]: ...

    def load_images(self, refs: list[str]) -> None: ...


@dataclass
class Release:
    """The chart installed on ``cluster``, and where this machine reaches it: ``uploader`` (base
    URL of the uploader's Service) and ``s3_endpoint`` (host:port of the S3 pod's Service)."""

    cluster: Cluster
    namespace: str
    uploader: str
    s3_endpoint: str
    access_key: str
    secret_key: str
    #: The ``--set`` arguments it was installed with (repeated on ``helm upgrade``).
    values: tuple[str, ...]

    def s3(self):
        from minio import Minio
        return Minio(self.s3_endpoint, access_key=self.access_key, secret_key=self.secret_key, secure=False,
                     region="us-east-1")

    def post(self, path: Path, **params) -> requests.Response:
        return self.post_bytes(path.name, path.read_bytes(), **params)

    def post_bytes(self, name: str, data: bytes, **params) -> requests.Response:
        return requests.post(f"{self.uploader}/v1/jobs", files={"image": (name, data)}, params=params, timeout=60)

    def job(self, job_id: str) -> dict:
        return requests.get(f"{self.uploader}/v1/jobs/{job_id}", timeout=30).json()

    def wait_done(self, job_id: str, timeout: float = 180) -> dict:
        def done() -> dict | bool:
            try:
                j = self.job(job_id)
            except requests.ConnectionError:  # kube-proxy still routing to a pod a rollout just replaced
                return False
            return j["status"] != "processing" and j

        return wait_for(done, timeout=timeout, interval=1, what=f"job {job_id} to finish")

    def kubectl(self, *args: str, check: bool = True, input: str | None = None):
        return self.cluster.kubectl("-n", self.namespace, *args, check=check, input=input)

    def resource(self, name: str) -> dict:
        return json.loads(self.kubectl("get", "thumbnailjob", name, "-o", "json").stdout)

    def nodes(self) -> set[str]:
        return set(self.cluster.kubectl("get", "nodes", "-o", "jsonpath={.items[*].metadata.name}").stdout.split())


def resizer_pods(release, job_id: str) -> list[dict]:
    return json.loads(release.kubectl("get", "pods", "-l", f"thumbnailer.dev/thumbnailjob={job_id}",
                                      "-o", "json").stdout)["items"]


def test_the_chart_installs_and_helm_test_passes(release):
    pods = json.loads(release.kubectl("get", "pods", "-o", "json").stdout)["items"]
    ours = [p for p in pods if p["metadata"]["name"].startswith(FULLNAME)]
    assert ours and {p["spec"]["nodeName"] for p in ours} <= release.nodes()
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
    assert pods and pods[0]["spec"]["nodeName"] in release.nodes()
    logs = release.kubectl("logs", pods[0]["metadata"]["name"], "-c", "resizer")
    assert logs.returncode == 0


def test_a_corrupt_file_fails_with_its_reason_and_the_message_from_the_container(release):
    job_id = release.post(CASES_DIR / "c15_jpeg_truncated.jpg").json()["id"]
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


def helm_upgrade(release, *values: str) -> None:
    """Upgrade the release and wait until only the new operator pods run and one of them leads.

    ``helm --wait`` returns once the new pods are ready, which can be before the Deployment has
    stopped the last old pod: that one may still hold the Lease and reconcile with the old values.
    """
    proc = release.cluster.helm("upgrade", RELEASE, str(CHART), "--namespace", release.namespace, *release.values,
                                *values, "--wait", "--timeout", "4m", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    deadline = time.monotonic() + 120
    while True:
        pods = json.loads(release.kubectl("get", "pods", "-l", "app.kubernetes.io/component=operator",
                                          "-o", "json").stdout)["items"]
        lease = json.loads(release.kubectl("get", "lease", "thumbnailer-operator", "-o", "json").stdout)
        holder = lease["spec"].get("holderIdentity") or ""
        hashes = {p["metadata"]["labels"].get("pod-template-hash") for p in pods}
        if (len(hashes) == 1 and not any(p["metadata"].get("deletionTimestamp") for p in pods)
                and any(holder.startswith(p["metadata"]["name"] + "_") for p in pods)):
            return
        assert time.monotonic() < deadline, f"old operator pods still run or none leads: {hashes}, {holder!r}"
        time.sleep(1)


def jobs_of(release) -> dict[str, list[str]]:
    """ThumbnailJob name -> the Kubernetes Jobs that serve it."""
    items = json.loads(release.kubectl("get", "jobs", "-o", "json").stdout)["items"]
    out: dict[str, list[str]] = {}
    for job in items:
        owner = job["metadata"]["labels"].get("thumbnailer.dev/thumbnailjob")
        if owner:
            out.setdefault(owner, []).append(job["metadata"]["name"])
    return out


class Rejection(Exception):
    """An upload refused by the API or a job that failed: the reason and message, as casecheck reads them."""


class Thumb:
    def __init__(self, data: bytes):
        self.data = data


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_every_hostile_case_gets_its_outcome_through_real_pods(release, case):
    data = (CASES_DIR / Path(case["file"]).name).read_bytes()
    reply = release.post_bytes(Path(case["file"]).name, data)
    thumb, rejection = None, None
    if reply.status_code != 202:
        assert reply.status_code in (400, 413, 415, 422), reply.text
        body = reply.json()
        rejection = Rejection(f"{body.get('reason', '')}: {body.get('detail', '')}")
    else:
        done = release.wait_done(reply.json()["id"])
        if done["status"] == "failed":
            rejection = Rejection(f"{done['reason']}: {done['message']}")
        else:
            got = requests.get(f"{release.uploader}/v1/jobs/{done['id']}/thumbnail", timeout=30)
            assert got.status_code == 200
            thumb = Thumb(got.content)
    assert failures(case["expectation"], thumb, rejection) == []


@pytest.mark.parametrize("name, reason", [("jpeg-scan-flood", "TooComplex"), ("gif-frame-outside-screen", "ImageTooLarge"),
                                          ("apng-invalid-frame", "CorruptImage"), ("tiff-page-chain", None)])
def test_generated_hostile_files_end_with_their_reason_in_seconds(release, name, reason):
    """tests/hostile.py's kinds through resizer containers: the CPU budget and the pre-checks hold there too."""
    reply = release.post_bytes(name, hostile.CORPUS[name][0]())
    assert reply.status_code == 202, reply.text
    done = release.wait_done(reply.json()["id"], timeout=90)
    assert (done["status"], done["reason"]) == (("succeeded", "ThumbnailReady") if reason is None
                                               else ("failed", reason)), done


def test_a_resizer_over_its_memory_limit_is_oom_killed_and_fails_out_of_memory(release, tmp_path):
    """The kernel's OOM killer, through the pod's memory cgroup: 64 Mi cannot hold a 6000x6000 decode."""
    big = tmp_path / "big.png"
    Image.new("RGB", (6000, 6000), (200, 30, 30)).save(big)  # 108 MB decoded, a few KB on disk
    helm_upgrade(release, "--set", "resizer.resources.limits.memory=64Mi",
                 "--set", "resizer.resources.requests.memory=64Mi")
    try:
        job_id = release.post(big).json()["id"]
        done = release.wait_done(job_id)
        assert (done["status"], done["reason"]) == ("failed", "OutOfMemory"), done
        assert "64Mi" in done["message"]
        pod = json.loads(release.kubectl("get", "pods", "-l", f"thumbnailer.dev/thumbnailjob={job_id}",
                                         "-o", "json").stdout)["items"][0]
        assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] == "OOMKilled"
    finally:
        helm_upgrade(release)


def test_deleting_the_operator_pod_in_a_burst_of_30_uploads_loses_none_and_duplicates_no_job(release):
    photo = (PHOTOS / "chelsea.png").read_bytes()
    ids: list[str] = []
    lock = threading.Lock()

    def upload(i: int) -> None:
        reply = release.post_bytes(f"burst-{i}.png", photo)
        assert reply.status_code == 202, reply.text
        with lock:
            ids.append(reply.json()["id"])

    def leader() -> str | None:
        """The operator pod that holds the Lease (its identity starts with the pod's host name)."""
        lease = json.loads(release.kubectl("get", "lease", "thumbnailer-operator", "-o", "json").stdout)
        holder = lease["spec"].get("holderIdentity") or ""
        pods = release.kubectl("get", "pods", "-l", "app.kubernetes.io/component=operator", "-o", "name").stdout
        return next((p for p in pods.split() if holder.startswith(p.split("/")[1] + "_")), None)

    with ThreadPoolExecutor(8) as pool:
        first = [pool.submit(upload, i) for i in range(15)]
        wait_for(lambda: len(ids) >= 10, 60, what="ten uploads accepted")
        release.kubectl("delete", wait_for(leader, 60, what="a leader among the operator pods"), "--wait=false")
        rest = [pool.submit(upload, i) for i in range(15, 30)]
        for f in first + rest:
            f.result()
    assert len(set(ids)) == 30
    for job_id in ids:
        assert release.wait_done(job_id, timeout=300)["status"] == "succeeded", job_id
    served = jobs_of(release)
    assert all(served.get(job_id) == [f"{job_id}-g1"] for job_id in ids), {i: served.get(i) for i in ids}


def test_helm_upgrade_to_a_new_image_tag_rolls_both_and_loses_no_job(release):
    for repo in ("thumbnailer", "thumbnailer-resizer"):
        images.docker("tag", f"{repo}:0.1.0", f"{repo}:0.1.0-next")
    release.cluster.load_images(["thumbnailer:0.1.0-next", "thumbnailer-resizer:0.1.0-next"])
    photo = (PHOTOS / "coffee.png").read_bytes()
    ids: list[str] = []
    stop = threading.Event()

    def keep_uploading() -> None:
        while not stop.is_set():
            try:
                reply = release.post_bytes("during-upgrade.png", photo)
            except requests.ConnectionError:
                continue  # a connection the old pod closed while draining; the client retries
            if reply.status_code == 202:
                ids.append(reply.json()["id"])

    t = threading.Thread(target=keep_uploading)
    t.start()
    try:
        helm_upgrade(release, "--set", "image.tag=0.1.0-next", "--set", "resizerImage.tag=0.1.0-next")
    finally:
        stop.set()
        t.join()
    try:
        assert len(ids) >= 3
        pods = json.loads(release.kubectl("get", "pods", "-l", "app.kubernetes.io/instance=" + RELEASE,
                                          "-o", "json").stdout)["items"]
        running = [p for p in pods if p["status"]["phase"] == "Running" and not p["metadata"].get("deletionTimestamp")]
        assert running and all(p["spec"]["containers"][0]["image"] == "thumbnailer:0.1.0-next" for p in running)
        for job_id in ids:
            assert release.wait_done(job_id, timeout=300)["status"] == "succeeded", job_id
        after = release.post_bytes("after-upgrade.png", photo).json()["id"]
        assert release.wait_done(after)["status"] == "succeeded"
        job = json.loads(release.kubectl("get", "job", f"{after}-g1", "-o", "json").stdout)
        assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "thumbnailer-resizer:0.1.0-next"
        thumb = requests.get(f"{release.uploader}/v1/jobs/{after}/thumbnail", timeout=30)
        assert Image.open(io.BytesIO(thumb.content)).size == (100, 100)
    finally:
        helm_upgrade(release)


__all__ = [
    "Release",
    "test_the_chart_installs_and_helm_test_passes",
    "test_a_photo_through_the_uploaders_service_becomes_a_100x100_thumbnail",
    "test_a_corrupt_file_fails_with_its_reason_and_the_message_from_the_container",
    "test_restricted_pod_security_refuses_a_violating_pod_and_admits_ours",
    "test_the_resizer_container_is_non_root_read_only_and_has_no_token",
    "test_every_hostile_case_gets_its_outcome_through_real_pods",
    "test_generated_hostile_files_end_with_their_reason_in_seconds",
    "test_a_resizer_over_its_memory_limit_is_oom_killed_and_fails_out_of_memory",
    "test_deleting_the_operator_pod_in_a_burst_of_30_uploads_loses_none_and_duplicates_no_job",
    "test_helm_upgrade_to_a_new_image_tag_rolls_both_and_loses_no_job",
]
