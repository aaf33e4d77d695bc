"""The debug bundle's redaction and step isolation, with fakes (no cluster)."""

from __future__ import annotations

import datetime
import json
import subprocess
import tarfile

import yaml

from debugbundle import bundle as db

NOW = datetime.datetime(2026, 1, 2, 12, 0, 0, tzinfo=datetime.timezone.utc)
SECRET = "s3cr3t-Value-0123456789"


def deployment(env: list[dict]) -> dict:
    return {"metadata": {"name": "op", "labels": {"helm.sh/chart": "thumbnailer-0.1.0",
                                                  "app.kubernetes.io/version": "0.1.0"},
                         "managedFields": [{"manager": "helm"}],
                         "annotations": {db.LAST_APPLIED: json.dumps({"env": env}), "keep": "me"}},
            "spec": {"template": {"spec": {
                "initContainers": [{"name": "init", "env": [{"name": "API_TOKEN", "value": "tok-123456789"}]}],
                "containers": [{"name": "c", "env": env}]}}}}


def test_secret_looking_env_values_are_redacted_and_references_kept():
    env = [{"name": "S3_SECRET_KEY", "value": SECRET},
           {"name": "S3_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": "s3", "key": "accessKey"}}},
           {"name": "db_password", "value": "hunter2hunter2"},
           {"name": "S3_ENDPOINT", "value": "minio:9000"},
           {"name": "EMPTY_TOKEN", "value": ""},
           {"name": "OUTPUT_KEY", "value": "thumbnails/ns/name"}, {"name": "MY_API_KEY", "value": "abcdefghijkl"}]
    seen: set[str] = set()
    out = db.redact_env(db.strip_noise(deployment(env)), seen)
    got = {e["name"]: e for e in out["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert got["S3_SECRET_KEY"]["value"] == db.REDACTED
    assert got["db_password"]["value"] == db.REDACTED
    assert got["S3_ACCESS_KEY"] == env[1]  # a reference holds no data
    assert got["S3_ENDPOINT"]["value"] == "minio:9000" and got["EMPTY_TOKEN"]["value"] == ""
    assert got["OUTPUT_KEY"]["value"] == "thumbnails/ns/name"  # an object key, not a secret
    assert got["MY_API_KEY"]["value"] == db.REDACTED
    assert out["spec"]["template"]["spec"]["initContainers"][0]["env"][0]["value"] == db.REDACTED
    assert "managedFields" not in out["metadata"]
    assert out["metadata"]["annotations"] == {"keep": "me"}  # last-applied repeats the env
    # Scrubbed everywhere: only values under secret/password/token names (a *_KEY may be a plain word).
    assert seen == {SECRET, "hunter2hunter2", "tok-123456789"}
    assert SECRET not in json.dumps(out)


def test_helm_values_redaction():
    values = {"s3": {"endpoint": "s3.example:443", "accessKey": "AKIA12345678", "secretKey": SECRET,
                     "existingSecret": "my-s3", "bucket": "thumbnails"},
              "generated": {"secretKey": ""}, "auth": {"password": None, "enableToken": True},
              "apiTokens": [{"name": "a", "value": "tokentoken1"}], "maxUploadBytes": 52428800,
              "monitoring": {"secretName": "metrics-tls", "port": 9090, "pin": 123456}}
    seen: set[str] = set()
    out = db.redact_values(values, seen)
    assert out["s3"] == {"endpoint": "s3.example:443", "accessKey": "REDACTED", "secretKey": "REDACTED",
                         "existingSecret": "my-s3", "bucket": "thumbnails"}
    assert out["generated"] == {"secretKey": ""}  # empty: nothing to hide, and it says "generated"
    assert out["auth"] == {"password": None, "enableToken": True}
    assert out["apiTokens"] == [{"name": "REDACTED", "value": "REDACTED"}]
    assert out["maxUploadBytes"] == 52428800 and out["monitoring"]["secretName"] == "metrics-tls"
    assert out["monitoring"]["pin"] == 123456
    assert seen == {SECRET, "a", "tokentoken1"}  # accessKey is redacted, not scrubbed elsewhere
    assert values["s3"]["secretKey"] == SECRET  # the input is not modified
    assert db.is_secret_value_key("S3_SECRET_KEY") and not db.is_secret_value_key("existingSecret")


def test_scrub_replaces_long_secrets_everywhere_but_not_short_words():
    data = f"log line with {SECRET} inside; a short 'abc' stays\n".encode()
    assert db.scrub(data, {SECRET, "abc"}) == b"log line with REDACTED inside; a short 'abc' stays\n"


def test_summaries():
    tjs = [{"metadata": {"name": "b", "creationTimestamp": "2026-01-02T11:00:00Z"},
            "status": {"phase": "Failed", "reason": "TruncatedImage", "message": "image file is truncated"}},
           {"metadata": {"name": "a", "creationTimestamp": "2026-01-02T11:59:30Z"}}]
    lines = db.thumbnailjob_table(tjs, NOW).splitlines()
    tjs[0]["status"]["jobName"] = "thumbnail-batch-1a2b"
    lines = db.thumbnailjob_table(tjs, NOW).splitlines()
    assert lines[0].split() == ["NAME", "PHASE", "REASON", "JOB", "AGE", "MESSAGE"]
    assert lines[1].split()[:5] == ["b", "Failed", "TruncatedImage", "thumbnail-batch-1a2b", "60m"]
    assert lines[2].split() == ["a", "<none>", "<none>", "<none>", "30s"]
    assert db.age("2025-12-30T12:00:00Z", NOW) == "3d" and db.age(None, NOW) == "<unknown>"
    events = [{"lastTimestamp": "2026-01-02T11:00:05Z", "reason": "Late"},
              {"eventTime": "2026-01-02T11:00:01.123456Z", "reason": "Early"},
              {"metadata": {"creationTimestamp": "2026-01-02T11:00:03Z"}, "reason": "Middle"}]
    assert [e["reason"] for e in db.sort_events(events)] == ["Early", "Middle", "Late"]
    assert db.chart_from_labels([deployment([])])["version"] == "0.1.0"


def batch_pod(job: str, created: str, message: str) -> dict:
    return {"metadata": {"name": f"{job}-{created[-3:-1]}", "creationTimestamp": created,
                         "labels": {"batch.kubernetes.io/job-name": job}},
            "status": {"containerStatuses": [{"name": "resizer", "state": {"terminated": {"message": message}}}]}}


def test_batches_table_shows_each_items_outcome_from_the_newest_report():
    items = json.dumps([{"name": "cat", "uid": "u1"}, {"name": "dog", "uid": "u2"}, {"name": "emu", "uid": "u3"}])
    job = {"metadata": {"name": "thumbnail-batch-1a", "creationTimestamp": "2026-01-02T11:00:00Z",
                        "annotations": {db.api.ANNOTATION_BATCH_ITEMS: items}},
           "status": {"conditions": [{"type": "Failed", "status": "True"}]}}
    single = {"metadata": {"name": "cat-g1"}, "status": {}}
    header = db.api.BATCH_REPORT_HEADER
    old = batch_pod("thumbnail-batch-1a", "2026-01-02T11:00:01Z", f"{header}\n0 ok jpg image/jpeg 100 75 900 1 1")
    new = batch_pod("thumbnail-batch-1a", "2026-01-02T11:00:09Z", f"{header}\n1 failed CorruptImage: broken")
    rows = [line.split(None, 4) for line in db.batch_table([single, job], [new, old]).splitlines()]
    assert rows[0] == ["JOB", "ITEM", "THUMBNAILJOB", "OUTCOME", "DETAIL"]
    assert rows[1] == ["thumbnail-batch-1a", "0", "cat", "ok", "jpg image/jpeg 100 75 900 1 1"]
    assert rows[2] == ["thumbnail-batch-1a", "1", "dog", "failed", "CorruptImage: broken"]
    assert rows[3] == ["thumbnail-batch-1a", "2", "emu", "unfinished"]
    assert len(rows) == 4  # the single Job has no rows
    running = {**job, "status": {}}
    assert db.batch_table([running], [])[:-1].splitlines()[3].split()[-1] == "running"
    assert db.batch_table([single], []) == "No batch Jobs.\n"


class Forbidden(Exception):
    def __init__(self, what: str):
        super().__init__(what)
        self.status, self.reason = 403, "Forbidden"
        self.body = json.dumps({"message": f'{what} is forbidden: User "u" cannot list resource'})


class FakeKube:
    """Pods can be listed and one log read; everything else is forbidden."""

    def server_version(self):
        return {"gitVersion": "v1.36.3"}

    def crd(self):
        raise Forbidden("customresourcedefinitions.apiextensions.k8s.io")

    def list(self, kind, namespace):
        if kind == "pods":
            return [{"metadata": {"name": "tj-1-g1-x", "labels": {"app.kubernetes.io/managed-by": "thumbnailer-operator"}},
                     "spec": {"containers": [{"name": "resizer", "env": [{"name": "S3_SECRET_KEY", "value": SECRET}]}]},
                     "status": {"containerStatuses": [{"name": "resizer", "restartCount": 1}]}}]
        raise Forbidden(kind)

    def pod_log(self, namespace, pod, container, previous):
        if previous:
            raise ConnectionError("kubelet unreachable")
        return f"resizer log; leaked {SECRET}\n".encode()


def test_every_step_is_independent_and_failures_reach_the_readme(tmp_path):
    bundle, context = db.collect("ns1", helm=str(tmp_path / "no-helm"), kube_factory=lambda: (FakeKube(), "fake"),
                                 now=NOW)
    out = bundle.write(tmp_path / "b.tar.gz", NOW, context)
    with tarfile.open(out) as tar:
        names = tar.getnames()
        files = {n.split("/", 1)[1]: tar.extractfile(n).read().decode() for n in names}
    assert names[0] == "b/README.txt"
    readme = files["README.txt"]
    for step in ("thumbnailjobs", "events", "jobs", "deployments", "leases", "crd", "helm"):
        assert any(line.startswith("FAILED") and f" {step} " in line for line in readme.splitlines()), step
    assert "HTTP 403 Forbidden: thumbnailjobs is forbidden" in readme
    assert "helm not found" in readme and "kubelet unreachable" in readme
    assert any(line.startswith("ok") and " pods " in line for line in readme.splitlines())
    assert files["logs/tj-1-g1-x/resizer.log"].startswith("resizer log; leaked REDACTED")
    assert "kubelet unreachable" in files["logs/tj-1-g1-x/resizer.previous.log.error"]
    assert yaml.safe_load(files["versions.yaml"])["server"]["gitVersion"] == "v1.36.3"
    assert not any(SECRET in text for text in files.values())


def test_helm_release_values_and_metadata_with_a_fake_helm(tmp_path):
    calls = []

    def fake_run(argv, **kw):
        calls.append(argv)
        out = {"list": json.dumps([{"name": "thumbs", "chart": "thumbnailer-0.1.0", "status": "deployed"},
                                   {"name": "other", "chart": "redis-1.0.0", "status": "deployed"}]),
               "values": yaml.safe_dump({"s3": {"secretKey": SECRET, "existingSecret": ""}}),
               "metadata": json.dumps({"name": "thumbs", "chart": "thumbnailer", "version": "0.1.0",
                                       "appVersion": "0.1.0", "revision": 1, "status": "deployed"})}
        key = argv[2] if argv[1] == "get" else argv[1]
        return subprocess.CompletedProcess(argv, 0, out[key], "")

    helm = tmp_path / "helm"
    helm.write_text("#!/bin/sh\n")
    helm.chmod(0o755)
    bundle = db.Bundle("ns1")
    db.collect_helm(bundle, str(helm), ["--kubeconfig", "k"], run=fake_run)
    assert not bundle.failures
    assert yaml.safe_load(bundle.files["helm/thumbs/values.yaml"]) == {"s3": {"secretKey": "REDACTED",
                                                                              "existingSecret": ""}}
    assert bundle.facts["helm_chart"]["version"] == "0.1.0"
    assert all(c[-4:] == ["--namespace", "ns1", "--kubeconfig", "k"] for c in calls)
    assert not any("other" in c for c in calls)  # only releases of the thumbnailer chart


def test_cli_exit_codes(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    missing = str(tmp_path / "missing.kubeconfig")
    out = tmp_path / "x.tar.gz"
    assert db.main(["-n", "ns1", "--kubeconfig", missing, "--output", str(out)]) == 1  # nothing from the cluster
    with tarfile.open(out) as tar:  # written all the same, saying why
        readme = tar.extractfile("x/README.txt").read().decode()
    assert "FAILED  kubeconfig" in readme and "FAILED  helm" in readme
    assert "FAILED  thumbnailjobs" in readme and "FAILED  logs" in readme  # every step is listed
    assert db.main(["-n", "ns1", "--kubeconfig", missing, "--output", str(tmp_path / "no" / "dir" / "x.tar.gz")]) == 1
