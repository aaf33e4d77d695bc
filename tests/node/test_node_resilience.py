"""What only a real node can show: the kernel's OOM killer, a deleted operator pod in a burst,
a rolling ``helm upgrade``, and the hostile cases of tests/data/cases through real containers."""

from __future__ import annotations

import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from PIL import Image

import images
from casecheck import failures
from chartrender import CHART
from nodesuite import PHOTOS, RELEASE
from waiting import wait_for

pytestmark = pytest.mark.node
CASES_DIR = PHOTOS.parent / "cases"
CASES = json.loads((CASES_DIR / "cases.json").read_text())


def helm_upgrade(release, *values: str) -> None:
    proc = release.cluster.helm("upgrade", RELEASE, str(CHART), "--namespace", release.namespace, *release.values,
                                *values, "--wait", "--timeout", "4m", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


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
def test_every_hostile_case_gets_its_outcome_through_the_node(release, case):
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
    release.cluster.node.load_images(["thumbnailer:0.1.0-next", "thumbnailer-resizer:0.1.0-next"])
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
