"""Batches as pure logic: the batch Job the operator builds, the resizer's report of it, and how the
operator reads each member's outcome back (plain dicts; the cluster-level behaviour is in
tests/integration/test_batches.py)."""

from __future__ import annotations

import concurrent.futures
import copy
import json
import threading
import time

import pytest

from resizer.batch import BatchReport, batch_items, run_batch
from resizer.__main__ import classify
from resizer.settings import SettingsError
from thumbnail_operator.jobs import batch_members, build_batch_job, build_job, claimed_members, member_label
from thumbnail_operator.scheduler import Scheduler
from thumbnail_operator.settings import OperatorSettings
from thumbnail_operator.status import batch_failure, batch_outcome, desired_status
from thumbnailer import api
from thumbnailer.api import EXIT_CONFIG, EXIT_OK, EXIT_RETRYABLE, ImageRejected
from thumbnailer.storetypes import StoreUnavailable

SETTINGS = OperatorSettings(s3_endpoint="s3.example:9000", s3_bucket="thumbs", batch_max_items=5)
SHARED = {"S3_ENDPOINT": "127.0.0.1:9", "S3_ACCESS_KEY": "a", "S3_SECRET_KEY": "s", "OUTPUT_BUCKET": "thumbs"}


def thumbnailjob(name: str, generation: int = 1, created: str = "2026-01-01T00:00:00Z", **spec) -> dict:
    return {"apiVersion": api.API_VERSION, "kind": api.KIND,
            "metadata": {"name": name, "namespace": "media", "uid": f"uid-{name}", "generation": generation,
                         "creationTimestamp": created},
            "spec": {"source": {"key": f"uploads/{name}.jpg"}, **spec}}


def env_of(job: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}


def pod(message: str, exit_code: int = 0, reason: str = "Completed") -> dict:
    return {"status": {"phase": "Succeeded" if exit_code == 0 else "Failed", "containerStatuses": [{"state": {
        "terminated": {"exitCode": exit_code, "reason": reason, "message": message,
                       "finishedAt": "2026-01-01T00:01:00Z"}}}]}}


def finished(job: dict, type_: str = "Complete") -> dict:
    return {**job, "status": {"conditions": [{"type": type_, "status": "True"}]}}


# -- the batch Job -------------------------------------------------------------------------------

def test_a_batch_job_lists_its_members_and_each_items_source_output_and_size():
    tjs = [thumbnailjob("cat", size={"width": 64, "height": 32}), thumbnailjob("dog", 3, format="webp")]
    tjs[1]["status"] = {"output": {"key": "thumbnails/media/dog.jpg"}}
    job = build_batch_job(tjs, SETTINGS, "thumbnail-batch-x")
    assert batch_members(job) == [{"name": "cat", "uid": "uid-cat", "generation": 1},
                                  {"name": "dog", "uid": "uid-dog", "generation": 3}]
    labels = job["metadata"]["labels"]
    assert labels[member_label("cat")] == "1" and labels[member_label("dog")] == "3"
    assert labels[api.LABEL_BATCH] == "true"
    items = json.loads(env_of(job)["BATCH_ITEMS"])
    assert items == [
        {"sourceBucket": "thumbs", "sourceKey": "uploads/cat.jpg", "outputKey": "thumbnails/media/cat",
         "width": "64", "height": "32", "fit": "cover", "format": ""},
        {"sourceBucket": "thumbs", "sourceKey": "uploads/dog.jpg", "outputKey": "thumbnails/media/dog",
         "width": "100", "height": "100", "fit": "cover", "format": "webp",
         "previousOutputKey": "thumbnails/media/dog.jpg"}]
    assert "SOURCE_KEY" not in env_of(job)
    assert claimed_members(job) == {("media", "cat"), ("media", "dog")}


def test_every_member_owns_the_batch_and_none_is_its_controller():
    job = build_batch_job([thumbnailjob("cat"), thumbnailjob("dog")], SETTINGS, "b")
    assert [(o["name"], o["uid"], o["controller"]) for o in job["metadata"]["ownerReferences"]] == [
        ("cat", "uid-cat", False), ("dog", "uid-dog", False)]


def test_the_operator_is_a_batchs_retry_loop_and_its_pod_stays_locked_down():
    job = build_batch_job([thumbnailjob("cat"), thumbnailjob("dog")], SETTINGS, "b")
    assert job["spec"]["backoffLimit"] == 0 and "podFailurePolicy" not in job["spec"]
    assert job["spec"]["activeDeadlineSeconds"] == 2 * SETTINGS.job_active_deadline_seconds
    single, batch = build_job(thumbnailjob("cat"), SETTINGS)["spec"]["template"]["spec"], job["spec"]["template"]["spec"]
    for pod_spec in (single, batch):
        assert pod_spec["automountServiceAccountToken"] is False
    assert {k: v for k, v in batch.items() if k != "containers"} == {k: v for k, v in single.items() if k != "containers"}


def test_a_single_job_carries_the_member_label_too():
    assert build_job(thumbnailjob("cat", 2), SETTINGS)["metadata"]["labels"][member_label("cat")] == "2"


# -- the resizer's side --------------------------------------------------------------------------

def test_each_item_gets_the_shared_variables_and_only_its_own_per_item_ones():
    env = {**SHARED, "PREVIOUS_OUTPUT_KEY": "stale", "BATCH_ITEMS": json.dumps([
        {"sourceBucket": "b", "sourceKey": "k1", "outputKey": "o1", "previousOutputKey": "p1"},
        {"sourceBucket": "b", "sourceKey": "k2", "outputKey": "o2", "width": 10}])}
    first, second = batch_items(env)
    assert first["PREVIOUS_OUTPUT_KEY"] == "p1" and "PREVIOUS_OUTPUT_KEY" not in second
    assert second["THUMBNAIL_WIDTH"] == "10" and second["S3_ENDPOINT"] == "127.0.0.1:9"


@pytest.mark.parametrize("raw", ["", "{", "[]", "{}", "[1]", '[{"sourceKey": "k", "shell": "rm"}]'])
def test_an_unusable_batch_items_is_a_configuration_error(raw):
    with pytest.raises(SettingsError):
        batch_items({**SHARED, "BATCH_ITEMS": raw})


def fake_render(outcomes: dict[str, object]):
    """A render() that answers per source key: a result dict, or raises the exception given."""
    def render(settings, store=None):
        out = outcomes[settings.source_key]
        if isinstance(out, BaseException):
            raise out
        return {"bucket": settings.output_bucket, "key": f"{settings.output_key}.jpg", "width": 100, "height": 80,
                "contentType": "image/jpeg", "bytes": 3456, "frames": 1, "sourceFrames": 1}
    return render


def items_env(*keys: str) -> dict:
    return {**SHARED, "BATCH_ITEMS": json.dumps([{"sourceBucket": "thumbs", "sourceKey": k, "outputKey": f"t/{k}"}
                                                 for k in keys])}


def test_a_corrupt_image_fails_only_its_own_item_and_the_batch_goes_on(tmp_path, monkeypatch):
    monkeypatch.setattr("resizer.batch.ResizerStore", lambda settings: object())
    path = tmp_path / "message"
    code = run_batch(items_env("a", "bad", "c"), str(path),
                     fake_render({"a": None, "bad": ImageRejected("CorruptImage", "broken data"), "c": None}), classify)
    assert code == EXIT_OK
    assert path.read_text().splitlines() == [api.BATCH_REPORT_HEADER, "0 ok jpg image/jpeg 100 80 3456 1 1",
                                             "1 failed CorruptImage: broken data", "2 ok jpg image/jpeg 100 80 3456 1 1"]


def test_a_store_outage_stops_the_batch_and_leaves_the_rest_unfinished(tmp_path, monkeypatch):
    monkeypatch.setattr("resizer.batch.ResizerStore", lambda settings: object())
    path = tmp_path / "message"
    code = run_batch(items_env("a", "b", "c"), str(path),
                     fake_render({"a": None, "b": StoreUnavailable("connection refused"), "c": None}), classify)
    assert code == EXIT_RETRYABLE
    assert path.read_text().splitlines()[1:] == ["0 ok jpg image/jpeg 100 80 3456 1 1",
                                                 "1 retry StoreUnavailable: connection refused"]


def test_an_unusable_batch_reports_one_configuration_line(tmp_path):
    path = tmp_path / "message"
    assert run_batch({**SHARED, "BATCH_ITEMS": "nope"}, str(path), fake_render({}), classify) == EXIT_CONFIG
    assert path.read_text().startswith("InvalidConfiguration: BATCH_ITEMS is not JSON")


def test_fifty_long_failures_still_fit_the_kubelets_4096_bytes(tmp_path):
    report = BatchReport(str(tmp_path / "m"))
    for i in range(api.MAX_BATCH_ITEMS):
        if i % 2:
            report.add(i, "ok", "webp image/webp 4096 4096 12345678 200 300")
        else:
            report.add(i, "failed", "TooComplex: " + "x" * 900)
    text = (tmp_path / "m").read_text()
    assert len(text.encode()) <= 4096
    assert len(text.splitlines()) == api.MAX_BATCH_ITEMS + 1
    assert all(line.startswith(f"{i} ") for i, line in enumerate(text.splitlines()[1:]))


# -- the operator reads it back ------------------------------------------------------------------

def batch_with(*names: str) -> dict:
    return build_batch_job([thumbnailjob(n) for n in names], SETTINGS, "thumbnail-batch-x")


def test_each_member_reads_its_own_line():
    job = finished(batch_with("cat", "dog", "eel"))
    pods = [pod(f"{api.BATCH_REPORT_HEADER}\n0 ok jpg image/jpeg 100 80 3456 1 1\n1 failed CorruptImage: broken")]
    meta = lambda n: thumbnailjob(n)["metadata"]  # noqa: E731
    kind, result = batch_outcome(job, pods, meta("cat"), "thumbs", "thumbnails/media/cat")
    assert kind == "ok" and result == {"bucket": "thumbs", "key": "thumbnails/media/cat.jpg", "width": 100,
                                       "height": 80, "contentType": "image/jpeg", "bytes": 3456, "frames": 1,
                                       "sourceFrames": 1}
    assert batch_outcome(job, pods, meta("dog"), "thumbs", "k") == ("failed", ("CorruptImage", "broken"))
    assert batch_outcome(job, pods, meta("eel"), "thumbs", "k") is None  # not finished
    stranger = {**meta("cat"), "uid": "another-cat"}  # deleted and created again under the same name
    assert batch_outcome(job, pods, stranger, "thumbs", "k") is None


def test_a_member_ok_in_a_killed_batch_succeeds_with_its_own_output():
    job = finished(batch_with("cat", "dog"), "Failed")
    pods = [pod(f"{api.BATCH_REPORT_HEADER}\n0 ok png image/png 100 100 999 1 1", 137, "OOMKilled")]
    tj = thumbnailjob("cat")
    outcome = batch_outcome(job, pods, tj["metadata"], "thumbs", "thumbnails/media/cat")
    status = desired_status(tj, job, pods, "2026-01-01T00:02:00Z", outcome=outcome)
    assert (status["phase"], status["reason"], status["jobName"]) == ("Succeeded", "ThumbnailReady", "thumbnail-batch-x")
    assert status["output"]["key"] == "thumbnails/media/cat.png"
    assert status["completionTime"] == "2026-01-01T00:01:00Z"
    assert batch_failure(job, pods)[0] == "OutOfMemory"


def test_why_a_batch_stopped_before_an_item():
    job = finished(batch_with("cat"), "Failed")
    killed = [pod(api.BATCH_REPORT_HEADER, 137, "Error")]
    assert batch_failure(job, killed)[0] == "ResizerFailed"
    assert batch_failure(job, [pod("InvalidConfiguration: BATCH_ITEMS is not JSON", 78, "Error")]) == (
        "InvalidConfiguration", "BATCH_ITEMS is not JSON")
    deadline = {**job, "status": {"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
                                                  "message": "Job was active longer than specified deadline"}]}}
    assert batch_failure(deadline, [])[0] == "DeadlineExceeded"
    report = f"{api.BATCH_REPORT_HEADER}\n0 ok jpg image/jpeg 1 1 1 1 1\n1 retry StoreUnavailable: refused"
    outage = [pod(report, 75, "Error")]
    assert batch_failure(job, outage) == ("StoreUnavailable", "refused")  # for the items it never reached


def test_a_queued_again_member_names_no_job():
    tj = thumbnailjob("cat")
    tj["status"] = {"jobName": "thumbnail-batch-x", "phase": "Running"}
    assert desired_status(tj, None, [], "2026-01-01T00:00:00Z", queue_position=0)["jobName"] is None


# -- the scheduler forms batches from the queue ---------------------------------------------------

class FakeKube:
    """The Job listing the scheduler reads: a plain list (what the API server would answer)."""

    def __init__(self):
        self.jobs: list[dict] = []

    def unrecorded_jobs(self, namespaces, keep):
        return list(self.jobs)

    def count_unfinished_jobs(self, namespaces, keep):
        return sum(not (j.get("status") or {}).get("conditions") for j in self.jobs)


def test_a_slot_that_frees_takes_what_is_queued_oldest_first_up_to_the_batch_size():
    kube = FakeKube()
    scheduler = Scheduler(kube, max_running=1, namespaces=lambda: [""], batch_max_items=3)

    def create(members):
        job = build_batch_job(members, SETTINGS, f"b{len(kube.jobs)}") if len(members) > 1 else build_job(
            members[0], SETTINGS)
        kube.jobs.append(job)
        return job

    first, _ = scheduler.admit(thumbnailjob("t0", created="2026-01-01T00:00:00Z"), create)
    assert batch_members(first) == []  # alone at idle: its own Job at once
    for i in range(1, 6):  # the slot is taken: these queue
        job, position = scheduler.admit(thumbnailjob(f"t{i}", created=f"2026-01-01T00:00:0{i}Z"), create)
        assert job is None and position == i - 1
    kube.jobs[0] = finished(kube.jobs[0])
    assert scheduler.next_up() == [("media", "t1")]
    batch, _ = scheduler.admit(thumbnailjob("t1", created="2026-01-01T00:00:01Z"), create)
    assert [m["name"] for m in batch_members(batch)] == ["t1", "t2", "t3"]
    # t2 was taken meanwhile: its own admission gets that batch back instead of a second Job.
    again, _ = scheduler.admit(thumbnailjob("t2", created="2026-01-01T00:00:02Z"), create)
    assert again is batch and len(kube.jobs) == 2


def test_an_arrival_behind_a_queue_with_no_free_slot_is_queued_without_reading_the_jobs():
    kube = FakeKube()
    scheduler = Scheduler(kube, max_running=1, namespaces=lambda: [""], batch_max_items=3)
    reads = []
    kube.unrecorded_jobs = lambda namespaces, keep: reads.append(1) or list(kube.jobs)

    def create(members):
        kube.jobs.append(build_job(members[0], SETTINGS))
        return kube.jobs[-1]

    assert scheduler.admit(thumbnailjob("t0", created="2026-01-01T00:00:00Z"), create)[0] is not None
    assert scheduler.admit(thumbnailjob("t1", created="2026-01-01T00:00:01Z"), create) == (None, 0)
    assert len(reads) == 2  # the head of the queue reads them
    assert scheduler.admit(thumbnailjob("t2", created="2026-01-01T00:00:02Z"), create) == (None, 1)
    assert len(reads) == 2 and scheduler.queued("media", "t2")  # behind t1, no slot free: not read
    # t0 was put into a Job by this scheduler: admitted again, it is checked (and finds its Job).
    assert scheduler.admit(thumbnailjob("t0", created="2026-01-01T00:00:00Z"), create)[0] is kube.jobs[0]
    assert len(reads) == 3 and len(kube.jobs) == 1


def test_an_arrival_during_an_admission_joins_its_batch_and_is_handed_that_job():
    kube = FakeKube()
    scheduler = Scheduler(kube, max_running=2, namespaces=lambda: [""], batch_max_items=3)
    listing, release, reads = threading.Event(), threading.Event(), []

    def unrecorded_jobs(namespaces, keep):  # the admission under way is reading the Jobs
        reads.append(1)
        listing.set()
        assert release.wait(5)
        return list(kube.jobs)

    kube.unrecorded_jobs = unrecorded_jobs

    def create(members):
        kube.jobs.append(build_batch_job(members, SETTINGS, f"b{len(kube.jobs)}") if len(members) > 1
                         else build_job(members[0], SETTINGS))
        return kube.jobs[-1]

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        first = pool.submit(scheduler.admit, thumbnailjob("t0", created="2026-01-01T00:00:00Z"), create)
        assert listing.wait(5)
        second = pool.submit(scheduler.admit, thumbnailjob("t1", created="2026-01-01T00:00:01Z"), create)
        deadline = time.monotonic() + 5
        while not scheduler.queued("media", "t1") and time.monotonic() < deadline:
            time.sleep(0.01)
        release.set()
        batch, _ = first.result(timeout=5)
        assert [m["name"] for m in batch_members(batch)] == ["t0", "t1"]
        assert second.result(timeout=5) == (batch, 0)
    assert len(kube.jobs) == 1 and len(reads) == 1  # t1 was handed its Job: no second read, no second Job


def test_the_batch_report_reads_back_as_the_resizer_wrote_it(tmp_path):
    report = BatchReport(str(tmp_path / "termination-log"))
    report.add(0, "ok", "png image/png 100 100 5120 1 1")
    report.add(2, "failed", "CorruptImage: the image   is broken")
    report.add(1, "retry", "StoreUnavailable: connection refused")
    assert api.parse_batch_report((tmp_path / "termination-log").read_text()) == {
        0: ("ok", "png image/png 100 100 5120 1 1"), 1: ("retry", "StoreUnavailable: connection refused"),
        2: ("failed", "CorruptImage: the image is broken")}
    assert api.parse_batch_report("CorruptImage: broken") is None and api.parse_batch_report("") is None
    assert api.parse_batch_report(f"{api.BATCH_REPORT_HEADER}\nx ok a\n3 maybe b\n") == {}


# -- following a batch Job's events ---------------------------------------------------------------

class RecordingKube(FakeKube):
    """What a reconcile reads and writes, counted; ThumbnailJobs held as the API server would."""

    def __init__(self, tjs: list[dict], pods: list[dict]):
        super().__init__()
        self.tjs = {t["metadata"]["name"]: copy.deepcopy(t) for t in tjs}
        self.pods, self.calls, self.refuse = pods, [], set()

    def get_thumbnailjob(self, namespace, name):
        self.calls.append(("get", name))
        return self.tjs.get(name)

    def job_pods(self, namespace, job_name):
        self.calls.append(("pods", job_name))
        return self.pods

    def member_jobs(self, namespace, name):
        self.calls.append(("member_jobs", name))
        return list(self.jobs)

    def patch_status(self, tj, status):
        name = tj["metadata"]["name"]
        current = self.tjs[name]
        if name in self.refuse or tj["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"]:
            self.refuse.discard(name)
            self.calls.append(("conflict", name))
            return None
        rv = str(int(current["metadata"]["resourceVersion"]) + 1)
        self.tjs[name] = {**current, "metadata": {**current["metadata"], "resourceVersion": rv}, "status": status}
        self.calls.append(("status", name, status["phase"]))
        return rv

    def event(self, tj, type_, reason, message):
        self.calls.append(("event", tj["metadata"]["name"], reason))

    def mark_recorded(self, namespace, name, ttl_seconds):
        self.calls.append(("recorded", name))


def follow_setup(names=("cat", "dog")):
    from thumbnail_operator.reconcile import FINALIZER, Reconciler
    tjs = [thumbnailjob(n) for n in names]
    for t in tjs:
        t["metadata"].update(resourceVersion="1", finalizers=[FINALIZER])
    job = build_batch_job(tjs, SETTINGS, "thumbnail-batch-x")
    job["status"] = {"startTime": "2026-01-01T00:00:01Z", "active": 1}
    kube = RecordingKube(tjs, [{"status": {"phase": "Running"}}])
    kube.jobs = [job]
    reconciler = Reconciler(kube, SETTINGS)
    for t in tjs:
        reconciler.observe(t)
    return reconciler, kube, job


def test_a_batch_jobs_event_reads_its_pods_once_for_all_members_and_no_thumbnailjob():
    reconciler, kube, job = follow_setup()
    reconciler.follow(job)
    assert sorted(c for c in kube.calls if c[0] != "event") == [
        ("pods", "thumbnail-batch-x"), ("status", "cat", "Running"), ("status", "dog", "Running")]
    assert {kube.tjs[n]["status"]["jobName"] for n in ("cat", "dog")} == {"thumbnail-batch-x"}
    assert kube.tjs["cat"]["status"]["startTime"] == "2026-01-01T00:00:01Z"


def test_a_member_changed_since_its_cached_copy_is_read_again_and_written_once():
    reconciler, kube, job = follow_setup()
    kube.tjs["cat"]["metadata"]["resourceVersion"] = "7"  # changed since the watch showed it
    reconciler.follow(job)
    cat = [c for c in kube.calls if c[1:2] == ("cat",)]
    assert cat[:3] == [("conflict", "cat"), ("get", "cat"), ("status", "cat", "Running")]
    assert kube.tjs["cat"]["status"]["phase"] == "Running"


def test_a_job_not_yet_started_by_its_controller_reconciles_nobody():
    reconciler, kube, job = follow_setup()
    del job["status"]
    reconciler.follow(job)
    assert kube.calls == []


def test_a_finished_batch_settles_each_member_from_its_own_line_and_is_then_recorded(tmp_path):
    reconciler, kube, job = follow_setup()
    job["status"] = {"startTime": "2026-01-01T00:00:01Z", "conditions": [{"type": "Complete", "status": "True"}]}
    report = BatchReport(str(tmp_path / "termination-log"))
    report.add(0, "ok", "jpg image/jpeg 100 100 4096 1 1")
    report.add(1, "failed", "CorruptImage: not an image")
    kube.pods = [pod((tmp_path / "termination-log").read_text())]
    reconciler.settle(job)
    assert kube.tjs["cat"]["status"]["phase"] == "Succeeded"
    assert kube.tjs["cat"]["status"]["output"]["key"] == "thumbnails/media/cat.jpg"
    assert (kube.tjs["dog"]["status"]["phase"], kube.tjs["dog"]["status"]["reason"]) == ("Failed", "CorruptImage")
    # One read of the pods for both, no listing of each member's Jobs; recorded after both.
    assert [c for c in kube.calls if c[0] in ("pods", "member_jobs", "get")] == [("pods", "thumbnail-batch-x")]
    assert kube.calls[-1] == ("recorded", "thumbnail-batch-x")
