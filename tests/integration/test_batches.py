"""Batches on the local control plane: several queued ThumbnailJobs share one resizer Job, and each
keeps its own outcome through bad images, a killed pod and a kill -9 of the operator.

Each test runs operators of its own (``MAX_RUNNING_JOBS`` small, so a queue forms) watching only
its own ``op-*`` namespace.
"""

from __future__ import annotations

import io
import json
import os
import signal
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client
from PIL import Image

from devcluster.processes import free_port
from operatorkit import SLOW_RESIZER, kill9, put_source
from thumbnailer import api
from waiting import wait_for

pytestmark = pytest.mark.integration


def create(cluster, ns: str, names: list[str], key: str = "op/photo.jpg", keys: dict[str, str] | None = None) -> None:
    """Create ThumbnailJobs ``names`` at once (one ``kubectl create`` of a List); ``keys`` overrides a source."""
    items = [{"apiVersion": api.API_VERSION, "kind": api.KIND, "metadata": {"name": n, "namespace": ns},
              "spec": {"source": {"key": (keys or {}).get(n, key)}, "size": {"width": 40, "height": 30}}}
             for n in names]
    cluster.kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))


def thumbnailjobs(api_client, ns: str) -> dict[str, dict]:
    items = client.CustomObjectsApi(api_client).list_namespaced_custom_object(api.GROUP, api.VERSION, ns,
                                                                              api.PLURAL)["items"]
    return {t["metadata"]["name"]: t for t in items}


def all_done(api_client, ns: str, count: int) -> dict[str, dict] | None:
    tjs = thumbnailjobs(api_client, ns)
    done = [t for t in tjs.values() if (t.get("status") or {}).get("phase") in ("Succeeded", "Failed")]
    return tjs if len(done) == count else None


def jobs_serving(api_client, ns: str, name: str) -> list[str]:
    """Names of every Job, batch or single, that has served ThumbnailJob ``name`` (its member label)."""
    jobs = client.BatchV1Api(api_client).list_namespaced_job(ns, label_selector=f"{api.LABEL_MEMBER_PREFIX}{name}")
    return sorted(j.metadata.name for j in jobs.items)


def batch_job(api_client, ns: str, name: str) -> dict:
    job = client.BatchV1Api(api_client).read_namespaced_job(name, ns, _preload_content=False)
    return json.loads(job.data)


def thumbnail_size(cluster, key: str) -> tuple[int, int]:
    data = cluster.s3.client().get_object(cluster.s3.bucket, key).read()
    return Image.open(io.BytesIO(data)).size


def test_a_burst_drains_in_batches_and_each_member_keeps_its_own_outcome(cluster, ns, operators, api_client):
    put_source(cluster, "op/photo.jpg")
    put_source(cluster, "op/notes.jpg", b"meeting notes, not a photo", "text/plain")
    metrics_port = free_port()
    operators(MAX_RUNNING_JOBS="1", BATCH_MAX_ITEMS="4", RESIZER_COMMAND=SLOW_RESIZER, METRICS_PORT=str(metrics_port))
    create(cluster, ns, ["first"])
    wait_for(lambda: jobs_serving(api_client, ns, "first"), what="the lone upload's own Job")
    names = [f"b{i}" for i in range(7)]
    create(cluster, ns, names, keys={"b3": "op/notes.jpg"})  # queued behind "first": they batch
    tjs = wait_for(lambda: all_done(api_client, ns, 8), timeout=180, interval=1, what="all 8 to finish")

    first = tjs["first"]["status"]
    assert (first["phase"], first["jobName"]) == ("Succeeded", "first-g1")  # alone at idle: a Job of its own
    bad = tjs["b3"]["status"]
    assert (bad["phase"], bad["reason"]) == ("Failed", "NotAnImage"), bad  # fails only itself
    for name in names:
        status = tjs[name]["status"]
        assert jobs_serving(api_client, ns, name) == [status["jobName"]]  # one Job each, the one status names
        if name == "b3":
            continue
        assert (status["phase"], status["reason"]) == ("Succeeded", "ThumbnailReady"), (name, status)
        assert status["output"]["key"] == f"thumbnails/{ns}/{name}.jpg"
        assert thumbnail_size(cluster, status["output"]["key"]) == (40, 30)
        assert any(c["type"] == "Complete" and c["status"] == "True" for c in status["conditions"])
    by_job: dict[str, list[str]] = {}
    for name in names:
        by_job.setdefault(tjs[name]["status"]["jobName"], []).append(name)
    assert sorted(len(members) for members in by_job.values()) == [3, 4], by_job  # 7 queued, batches of at most 4
    for job_name, members in by_job.items():
        job = batch_job(api_client, ns, job_name)
        assert [m["name"] for m in json.loads(job["metadata"]["annotations"][api.ANNOTATION_BATCH_ITEMS])] == members
        assert job["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
        # Settled: every member's outcome recorded, then handed to the TTL controller.
        wait_for(lambda j=job_name: "ttlSecondsAfterFinished" in batch_job(api_client, ns, j)["spec"],
                 what=f"batch Job {job_name} handed to the TTL controller")
    events = json.loads(cluster.kubectl("get", "events", "-n", ns, "--field-selector", "involvedObject.name=b0",
                                        "-o", "json").stdout)["items"]
    assert any(e["reason"] == "JobCreated" and tjs["b0"]["status"]["jobName"] in e["message"] for e in events)
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    assert "thumbnailer_batch_items_count 3.0" in text  # "first" alone, then two batches
    assert "thumbnailer_batch_items_sum 8.0" in text


def test_kill_9_of_the_operator_while_batches_run_never_puts_a_thumbnailjob_in_two_jobs(cluster, ns, operators,
                                                                                      api_client):
    put_source(cluster, "op/photo.jpg")
    settings = {"MAX_RUNNING_JOBS": "2", "BATCH_MAX_ITEMS": "5", "RESIZER_COMMAND": SLOW_RESIZER}
    first = operators(**settings)
    names = [f"k{i:02d}" for i in range(20)]
    create(cluster, ns, names)
    batches = client.BatchV1Api(api_client)
    wait_for(lambda: batches.list_namespaced_job(ns, label_selector=api.LABEL_BATCH).items, timeout=90,
             what="a batch Job to run")
    kill9(first)
    operators(**settings)
    tjs = wait_for(lambda: all_done(api_client, ns, 20), timeout=240, interval=1, what="all 20 to finish")
    serving = {name: jobs_serving(api_client, ns, name) for name in names}
    assert all(len(jobs) == 1 for jobs in serving.values()), serving  # never two Jobs, so never two running
    assert {name: tjs[name]["status"]["jobName"] for name in names} == {n: j[0] for n, j in serving.items()}
    assert all(tjs[name]["status"]["phase"] == "Succeeded" for name in names)
    assert len({j[0] for j in serving.values()}) < 20  # and they did batch


def pod_dirs(cluster, ns: str, job_name: str) -> list[Path]:
    return sorted((cluster.state_dir / "devnode" / "pods").glob(f"{ns}_{job_name}-*"))


def resizer_pid(pod_dir: Path) -> int | None:
    """The process the development node runs for the pod in ``pod_dir`` (its working directory)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "cwd") == str(pod_dir) and b"resizer" in (entry / "cmdline").read_bytes():
                    return int(entry.name)
            except OSError:
                continue
    return None


def batch_past_its_first_item(cluster, ns: str, operators, api_client, names: list[str]) -> tuple[str, Path]:
    """A batch of ``names`` (the second one a big PNG, about a second to decode) queued behind a
    blocker, waited for until its first item has finished; returns (its Job's name, its pod's
    termination log)."""
    put_source(cluster, "op/photo.jpg")
    big = io.BytesIO()
    Image.new("RGB", (8000, 6000), (200, 30, 30)).save(big, "PNG")
    put_source(cluster, "op/big.png", big.getvalue(), "image/png")
    operators(MAX_RUNNING_JOBS="1", BATCH_MAX_ITEMS="3", RESIZER_COMMAND=SLOW_RESIZER)
    create(cluster, ns, ["blocker"])
    wait_for(lambda: jobs_serving(api_client, ns, "blocker"), what="the first Job")
    create(cluster, ns, names, keys={names[1]: "op/big.png"})
    batch = wait_for(lambda: (j := jobs_serving(api_client, ns, names[0])) and j[0], timeout=90, what="the batch")
    assert jobs_serving(api_client, ns, names[2]) == [batch]
    log = wait_for(lambda: (d := pod_dirs(cluster, ns, batch)) and d[0] / "resizer.termination-log", what="its pod")
    wait_for(lambda: "\n0 ok " in (log.read_text() if log.exists() else ""), timeout=60, interval=0.02,
             what="the batch's first item to finish")
    return batch, log


def test_a_batch_pod_killed_midway_renders_only_its_unfinished_items_again(cluster, ns, operators, api_client):
    batch, log = batch_past_its_first_item(cluster, ns, operators, api_client, ["m1-done", "m2-big", "m3-rest"])
    pid = wait_for(lambda: resizer_pid(log.parent), what="the resizer process")
    os.kill(pid, signal.SIGKILL)  # midway: the big item is decoding
    tjs = wait_for(lambda: all_done(api_client, ns, 4), timeout=180, interval=1, what="all to finish")
    assert all(t["status"]["phase"] == "Succeeded" for t in tjs.values()), {n: t["status"] for n, t in tjs.items()}
    assert jobs_serving(api_client, ns, "m1-done") == [batch]  # finished before the kill: never redone
    assert tjs["m1-done"]["status"]["jobName"] == batch
    for name in ("m2-big", "m3-rest"):  # unfinished: rendered again, in a Job after the killed batch
        jobs = jobs_serving(api_client, ns, name)
        assert batch in jobs and len(jobs) == 2 and tjs[name]["status"]["jobName"] != batch
    assert thumbnail_size(cluster, tjs["m2-big"]["status"]["output"]["key"]) == (40, 30)


def test_a_store_outage_midway_retries_only_the_items_not_finished(cluster, ns, operators, api_client):
    batch, log = batch_past_its_first_item(cluster, ns, operators, api_client, ["o1-done", "o2-big", "o3-rest"])
    cluster.s3.stop()  # while the big item is read or decoded: its write cannot happen
    try:
        wait_for(lambda: any(c["type"] == "Failed" and c["status"] == "True"
                             for c in batch_job(api_client, ns, batch)["status"].get("conditions") or []),
                 timeout=90, what="the batch to stop")
        report = api.parse_batch_report(log.read_text())
        assert report[0][0] == "ok" and report[1][0] == "retry" and 2 not in report, report
        assert report[1][1].startswith("StoreUnavailable:")
    finally:
        cluster.s3.start()  # same port, credentials and data
    tjs = wait_for(lambda: all_done(api_client, ns, 4), timeout=180, interval=1, what="all to finish")
    assert all(t["status"]["phase"] == "Succeeded" for t in tjs.values()), {n: t["status"] for n, t in tjs.items()}
    assert jobs_serving(api_client, ns, "o1-done") == [batch]  # finished before the outage: never redone
    for name in ("o2-big", "o3-rest"):  # not finished: rendered again once the store is back
        jobs = jobs_serving(api_client, ns, name)
        assert batch in jobs and len(jobs) == 2 and tjs[name]["status"]["jobName"] != batch
        assert thumbnail_size(cluster, tjs[name]["status"]["output"]["key"]) == (40, 30)


def test_editing_or_deleting_a_member_while_its_batch_runs(cluster, ns, operators, api_client):
    """As with a Job of its own: an edited member renders its new generation (after its batch, since
    no ThumbnailJob is in two running Jobs), a deleted one is gone with its thumbnail."""
    put_source(cluster, "op/photo.jpg")
    operators(MAX_RUNNING_JOBS="1", BATCH_MAX_ITEMS="3", RESIZER_COMMAND=SLOW_RESIZER)
    create(cluster, ns, ["blocker"])
    wait_for(lambda: jobs_serving(api_client, ns, "blocker"), what="the first Job")
    create(cluster, ns, ["e1-kept", "e2-edited", "e3-deleted"])
    batch = wait_for(lambda: (j := jobs_serving(api_client, ns, "e1-kept")) and j[0], timeout=90, what="the batch")
    assert jobs_serving(api_client, ns, "e3-deleted") == [batch]
    wait_for(lambda: pod_dirs(cluster, ns, batch), what="its pod")  # running: the resizer sleeps 4 s first
    cluster.kubectl("patch", api.PLURAL, "e2-edited", "-n", ns, "--type", "merge",
                    "-p", json.dumps({"spec": {"size": {"width": 20, "height": 15}}}))
    cluster.kubectl("delete", api.PLURAL, "e3-deleted", "-n", ns, "--wait=false")
    wait_for(lambda: "e3-deleted" not in thumbnailjobs(api_client, ns), timeout=120, interval=1,
             what="the deleted member to be gone")
    tjs = wait_for(lambda: (t := thumbnailjobs(api_client, ns)) and all(
        (o.get("status") or {}).get("phase") == "Succeeded"
        and o["status"].get("observedGeneration") == o["metadata"]["generation"] for o in t.values()) and t,
        timeout=180, interval=1, what="the others to finish")
    assert sorted(tjs) == ["blocker", "e1-kept", "e2-edited"]
    edited = tjs["e2-edited"]
    assert edited["metadata"]["generation"] == 2 and edited["status"]["jobName"] != batch
    assert thumbnail_size(cluster, edited["status"]["output"]["key"]) == (20, 15)
    assert thumbnail_size(cluster, tjs["e1-kept"]["status"]["output"]["key"]) == (40, 30)
    deleted_key = f"thumbnails/{ns}/e3-deleted.jpg"
    assert deleted_key not in [o.object_name for o in cluster.s3.client().list_objects(
        cluster.s3.bucket, prefix=f"thumbnails/{ns}/")]  # written by the batch, removed by the cleanup after it
    cluster.s3.client().stat_object(cluster.s3.bucket, "op/photo.jpg")  # the shared source stays
