"""The operator converges: restarts at bad moments, spec changes, retries, GitOps hygiene, events.

Each test runs operators of its own, watching only its own ``op-*`` namespace
(the session's operator leaves those alone).
"""

from __future__ import annotations

import io
import json
import urllib.request

import pytest
from kubernetes import client

from devcluster.processes import free_port
from operatorkit import SLOW_RESIZER, apply, job_finished, jobs_of, kill9, put_source, tj
from thumbnailer import api
from waiting import wait_for

pytestmark = pytest.mark.integration


def test_a_thumbnailjob_created_while_the_operator_is_down_is_processed_on_start(cluster, ns, operators):
    put_source(cluster, "op/photo.jpg")
    apply(cluster, ns, "early")
    operators()
    cluster.kubectl("wait", "-n", ns, "--for=condition=Complete", "thumbnailjob/early", "--timeout=90s")
    assert [j["metadata"]["name"] for j in jobs_of(cluster, ns, "early")] == ["early-g1"]


def test_kill_9_while_the_job_runs_and_until_it_has_finished_converges_with_one_job(cluster, ns, operators):
    put_source(cluster, "op/photo.jpg")
    first = operators(RESIZER_COMMAND=SLOW_RESIZER)
    apply(cluster, ns, "resilient")
    wait_for(lambda: jobs_of(cluster, ns, "resilient"), what="the Job to exist")
    kill9(first)  # while the Job runs
    job = wait_for(lambda: (js := jobs_of(cluster, ns, "resilient")) and job_finished(js[0]) and js[0],
                   timeout=120, what="the Job to finish with no operator running")
    # The outcome is not yet written. The status may be absent too: the kill can land between
    # creating the Job and the first status patch.
    assert (tj(cluster, ns, "resilient").get("status") or {}).get("phase") in (None, "Pending", "Running")
    assert "ttlSecondsAfterFinished" not in job["spec"]  # not cleaned up before its outcome is recorded
    operators(RESIZER_COMMAND=SLOW_RESIZER)
    cluster.kubectl("wait", "-n", ns, "--for=condition=Complete", "thumbnailjob/resilient", "--timeout=60s")
    jobs = jobs_of(cluster, ns, "resilient")
    assert [j["metadata"]["name"] for j in jobs] == ["resilient-g1"]
    wait_for(lambda: "ttlSecondsAfterFinished" in jobs_of(cluster, ns, "resilient")[0]["spec"],
             what="the operator to hand the finished Job to the TTL controller")


def test_a_changed_spec_renders_again_and_replaces_the_thumbnail(cluster, ns, operators):
    put_source(cluster, "op/photo.jpg")
    operators(RESIZER_COMMAND=SLOW_RESIZER)  # a resizer pod takes 4 s more: generation 2 is seen running
    apply(cluster, ns, "edited", size={"width": 64, "height": 64})
    cluster.kubectl("wait", "-n", ns, "--for=condition=Complete", "thumbnailjob/edited", "--timeout=90s")
    old_key = tj(cluster, ns, "edited")["status"]["output"]["key"]
    apply(cluster, ns, "edited", size={"width": 32, "height": 16}, format="webp")
    # While generation 2 runs, nothing of generation 1's completion is left in the status.
    running = wait_for(lambda: (st := tj(cluster, ns, "edited")["status"]).get("observedGeneration") == 2
                       and st["phase"] in ("Pending", "Running") and st, what="generation 2 to be observed")
    assert "completionTime" not in running, running
    wait_for(lambda: (st := tj(cluster, ns, "edited")["status"]).get("observedGeneration") == 2
             and st["phase"] == "Succeeded", what="generation 2 to succeed")
    status = tj(cluster, ns, "edited")["status"]
    assert (status["output"]["width"], status["output"]["height"], status["output"]["contentType"]) == (
        32, 16, "image/webp")
    assert status["output"]["key"] != old_key and status["jobName"] == "edited-g2"
    assert all(c["observedGeneration"] == 2 for c in status["conditions"])
    names = [o.object_name for o in cluster.s3.client().list_objects(cluster.s3.bucket, f"thumbnails/{ns}/",
                                                                     recursive=True)]
    assert names == [status["output"]["key"]]  # the old thumbnail is gone


def test_store_outage_is_retried_then_fails_with_the_reason(cluster, ns, operators):
    operators(S3_ENDPOINT=f"127.0.0.1:{free_port()}", JOB_BACKOFF_LIMIT="1")
    apply(cluster, ns, "unreachable")
    cluster.kubectl("wait", "-n", ns, "--for=condition=Failed", "thumbnailjob/unreachable", "--timeout=120s")
    status = tj(cluster, ns, "unreachable")["status"]
    assert status["reason"] == "StoreUnavailable"
    pods = cluster.kubectl("get", "pods", "-n", ns, "-l", "job-name=unreachable-g1", "-o", "name").stdout.split()
    assert len(pods) == 2  # retried once (backoffLimit 1), unlike a bad image


def test_gitops_manifest_shows_no_diff_and_tracking_labels_stay_off_the_job(cluster, ns, operators):
    put_source(cluster, "op/photo.jpg")
    operators()
    manifest = {"apiVersion": api.API_VERSION, "kind": api.KIND,
                "metadata": {"name": "tracked", "namespace": ns,
                             "labels": {"app.kubernetes.io/instance": "thumbs-app"},
                             "annotations": {"argocd.argoproj.io/tracking-id": "thumbs-app:thumbnailer.dev/x"}},
                "spec": {"source": {"key": "op/photo.jpg"}}}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    cluster.kubectl("wait", "-n", ns, "--for=condition=Complete", "thumbnailjob/tracked", "--timeout=90s")
    diff = cluster.kubectl("diff", "-f", "-", input=json.dumps(manifest), check=False)
    assert diff.returncode == 0, diff.stdout + diff.stderr
    job = jobs_of(cluster, ns, "tracked")[0]
    assert "app.kubernetes.io/instance" not in job["metadata"]["labels"]
    assert not (job["metadata"].get("annotations") or {}).keys() & {"argocd.argoproj.io/tracking-id"}
    meta = tj(cluster, ns, "tracked")["metadata"]
    assert meta.get("finalizers") == [f"{api.GROUP}/finalizer"]  # the Delete policy's, and nothing else
    assert not [a for a in meta.get("annotations", {}) if "kopf" in a or a.startswith(api.GROUP)]


def test_events_tell_the_story_and_metrics_count(cluster, ns, operators):
    put_source(cluster, "op/photo.jpg")
    data = b"not an image"
    cluster.s3.client().put_object(cluster.s3.bucket, "op/bad.txt", io.BytesIO(data), len(data))
    metrics_port = free_port()
    operators(METRICS_PORT=str(metrics_port))
    apply(cluster, ns, "story")
    manifest = {"apiVersion": api.API_VERSION, "kind": api.KIND, "metadata": {"name": "sad", "namespace": ns},
                "spec": {"source": {"key": "op/bad.txt"}}}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    cluster.kubectl("wait", "-n", ns, "--for=condition=Complete", "thumbnailjob/story", "--timeout=90s")
    cluster.kubectl("wait", "-n", ns, "--for=condition=Failed", "thumbnailjob/sad", "--timeout=90s")

    def events(name):
        out = cluster.kubectl("get", "events", "-n", ns, "--field-selector", f"involvedObject.name={name}",
                              "-o", "json").stdout
        return {(e["type"], e["reason"]) for e in json.loads(out)["items"]}

    story = wait_for(lambda: (e := events("story")) >= {("Normal", "JobCreated"), ("Normal", "ThumbnailReady")} and e,
                     what="the success events")
    assert ("Normal", "JobCreated") in story
    assert ("Warning", "NotAnImage") in wait_for(lambda: events("sad"), what="the failure event")
    described = cluster.kubectl("describe", "-n", ns, "thumbnailjob/sad").stdout
    assert "NotAnImage" in described
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    assert "thumbnailer_jobs_created_total 2.0" in text
    assert "thumbnailer_time_to_succeeded_seconds_count 1.0" in text


def test_300_thumbnailjobs_at_once_never_run_more_than_the_cap(cluster, ns, operators, api_client):
    cap, total = 5, 300
    put_source(cluster, "op/photo.jpg")
    operators(MAX_RUNNING_JOBS=str(cap))
    items = [{"apiVersion": api.API_VERSION, "kind": api.KIND, "metadata": {"name": f"burst-{i:03d}", "namespace": ns},
              "spec": {"source": {"key": "op/photo.jpg"}, "size": {"width": 16, "height": 16}}} for i in range(total)]
    cluster.kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}),
                    timeout=300)
    batch, custom = client.BatchV1Api(api_client), client.CustomObjectsApi(api_client)
    peak, saw_queued, samples = 0, False, 0

    def sample() -> bool:
        nonlocal peak, saw_queued, samples
        jobs = batch.list_namespaced_job(ns).items
        unfinished = [j for j in jobs if not any(c.type in ("Complete", "Failed") and c.status == "True"
                                                 for c in (j.status.conditions or []))]
        peak, samples = max(peak, len(unfinished)), samples + 1
        tjs = custom.list_namespaced_custom_object(api.GROUP, api.VERSION, ns, api.PLURAL)["items"]
        saw_queued |= any((t.get("status") or {}).get("reason") == "Queued" for t in tjs)
        return sum((t.get("status") or {}).get("phase") == "Succeeded" for t in tjs) == total

    wait_for(sample, timeout=900, interval=0.3, what=f"all {total} ThumbnailJobs to succeed")
    assert peak <= cap, f"{peak} unfinished Jobs at once (cap {cap}), over {samples} samples"
    assert saw_queued  # the rest waited, with the Queued reason
    jobs = batch.list_namespaced_job(ns).items
    assert len(jobs) == total and len({j.metadata.name for j in jobs}) == total  # one Job each
    # Each outcome recorded marks its Job, which the cap's count then leaves out.
    wait_for(lambda: all((j.metadata.labels or {}).get(api.LABEL_RECORDED) == "true"
                         for j in batch.list_namespaced_job(ns).items), timeout=60, what="every Job marked recorded")


def objects(cluster, prefix: str) -> list[str]:
    return sorted(o.object_name for o in cluster.s3.client().list_objects(cluster.s3.bucket, prefix, recursive=True))


def test_deleting_a_thumbnailjob_removes_its_objects_but_never_a_shared_source(cluster, ns, operators):
    put_source(cluster, f"op/{ns}/uploaded.jpg")
    put_source(cluster, f"op/{ns}/shared.jpg")
    operators()
    for name, key, labels in (("uploaded", "uploaded.jpg", {"app.kubernetes.io/created-by": "thumbnailer-uploader"}),
                              ("shared", "shared.jpg", {})):
        manifest = {"apiVersion": api.API_VERSION, "kind": api.KIND,
                    "metadata": {"name": name, "namespace": ns, "labels": labels},
                    "spec": {"source": {"key": f"op/{ns}/{key}"}}}
        cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))
        cluster.kubectl("wait", "-n", ns, "--for=condition=Complete", f"thumbnailjob/{name}", "--timeout=90s")
    assert objects(cluster, f"thumbnails/{ns}/") == [f"thumbnails/{ns}/shared.jpg", f"thumbnails/{ns}/uploaded.jpg"]
    cluster.kubectl("delete", "-n", ns, "thumbnailjob/uploaded", "thumbnailjob/shared", "--timeout=60s")
    assert objects(cluster, f"thumbnails/{ns}/") == []
    assert objects(cluster, f"op/{ns}/") == [f"op/{ns}/shared.jpg"]  # a GitOps source is not ours to delete
    wait_for(lambda: not jobs_of(cluster, ns, "uploaded"), what="the Job to be garbage-collected")


def test_a_lost_store_never_blocks_deletion_forever(cluster, ns, operators):
    put_source(cluster, "op/photo.jpg")
    first = operators()
    apply(cluster, ns, "orphan")
    cluster.kubectl("wait", "-n", ns, "--for=condition=Complete", "thumbnailjob/orphan", "--timeout=90s")
    first.process.stop()
    operators(S3_ENDPOINT=f"127.0.0.1:{free_port()}", CLEANUP_ATTEMPTS="2")
    cluster.kubectl("delete", "-n", ns, "thumbnailjob/orphan", "--timeout=90s")
    out = cluster.kubectl("get", "events", "-n", ns, "--field-selector", "involvedObject.name=orphan",
                          "-o", "json").stdout
    assert ("Warning", "CleanupFailed") in {(e["type"], e["reason"]) for e in json.loads(out)["items"]}


def test_of_two_operators_one_acts_and_the_other_takes_over_when_it_dies(cluster, ns, operators):
    put_source(cluster, "op/photo.jpg")
    pair = [operators(LEADER_ELECTION_LEASE_SECONDS="6") for _ in range(2)]
    apply(cluster, ns, "ha-first")
    cluster.kubectl("wait", "-n", ns, "--for=condition=Complete", "thumbnailjob/ha-first", "--timeout=90s")
    lease = json.loads(cluster.kubectl("get", "lease", "-n", ns, "thumbnailer-operator", "-o", "json").stdout)
    holder = lease["spec"]["holderIdentity"]
    leader = next(op for op in pair if f"_{op.process.pid}_" in holder)
    standby = next(op for op in pair if op is not leader)
    assert "created Job" in leader.process.log_path.read_text()
    assert "created Job" not in standby.process.log_path.read_text()  # only one acts
    kill9(leader)
    apply(cluster, ns, "ha-second")
    # The standby takes over once the 6 s lease expires; the bound is generous for a loaded CI machine.
    cluster.kubectl("wait", "-n", ns, "--for=condition=Complete", "thumbnailjob/ha-second", "--timeout=60s")
    lease = json.loads(cluster.kubectl("get", "lease", "-n", ns, "thumbnailer-operator", "-o", "json").stdout)
    assert f"_{standby.process.pid}_" in lease["spec"]["holderIdentity"]
    for name in ("ha-first", "ha-second"):
        assert [j["metadata"]["name"] for j in jobs_of(cluster, ns, name)] == [f"{name}-g1"]


def test_a_job_past_its_deadline_fails_with_deadline_exceeded(cluster, ns, operators):
    put_source(cluster, "op/photo.jpg")
    operators(RESIZER_COMMAND=json.dumps(["sh", "-c", "sleep 30; exec python -m resizer"]),
              JOB_ACTIVE_DEADLINE_SECONDS="3")
    apply(cluster, ns, "slowpoke")
    cluster.kubectl("wait", "-n", ns, "--for=condition=Failed", "thumbnailjob/slowpoke", "--timeout=60s")
    status = tj(cluster, ns, "slowpoke")["status"]
    assert status["reason"] == "DeadlineExceeded" and status["phase"] == "Failed"
