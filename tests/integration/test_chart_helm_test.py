"""The chart's `helm test` pod (templates/tests/upload-test.yaml), run for real by the dev node:
it uploads an image to a local uploader, waits for the ThumbnailJob to succeed and checks the thumbnail."""

from __future__ import annotations

import json
import uuid

import pytest
import yaml
from kubernetes import client

from chartrender import template
from devcluster.processes import free_port
from waiting import wait_for

pytestmark = pytest.mark.integration
TEST_POD = "templates/tests/upload-test.yaml"
RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}


def chart_yaml(binaries, release: str, namespace: str, *sets: str, show_only: str | None = None) -> str:
    """The chart with an external store and the Secret the harness makes, plus ``sets`` (``k=v``)."""
    args = ["--set", "minio.enabled=false", "--set", "s3.endpoint=s3.example:443",
            "--set", "s3.existingSecret=thumbnailer-s3"]
    for s in sets:
        args += ["--set", s]
    if show_only:
        args += ["--show-only", show_only]
    return template(binaries, *args, release=release, namespace=namespace)


def run_test_pod(cluster, binaries, release: str, namespace: str, *sets: str) -> tuple[dict, str]:
    """Apply the rendered test pod, wait until it ends; returns (pod, container log)."""
    manifest = chart_yaml(binaries, release, namespace, *sets, show_only=TEST_POD)
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=manifest)
    name = f"{release}-thumbnailer-upload-test"

    def finished():
        pod = json.loads(cluster.kubectl("get", "pod", name, "-n", namespace, "-o", "json").stdout)
        return pod if pod.get("status", {}).get("phase") in ("Succeeded", "Failed") else None

    pod = wait_for(finished, timeout=150, interval=1, what=f"pod {name} to finish")
    logs = cluster.state_dir / "devnode" / "pods" / f"{namespace}_{name}_{pod['metadata']['uid']}" / "upload-test.log"
    return pod, logs.read_text()


def terminated(pod: dict) -> dict:
    return pod["status"]["containerStatuses"][0]["state"]["terminated"]


@pytest.fixture(scope="module")
def restricted_uploader(cluster, uploader):
    """The module's uploader, its namespace now enforcing Pod Security "restricted" (so the test pod and the
    resizer pods it causes are admitted under it)."""
    cluster.kubectl("label", "namespace", uploader.namespace, *(f"{k}={v}" for k, v in RESTRICTED.items()))
    return uploader


def test_helm_test_pod_uploads_an_image_and_sees_its_thumbnail(cluster, binaries, restricted_uploader):
    up = restricted_uploader
    pod, log = run_test_pod(cluster, binaries, "smoke", up.namespace, f"tests.uploaderURL={up.url}")
    assert pod["status"]["phase"] == "Succeeded", log
    message = terminated(pod)["message"]
    assert message.startswith("ok: job tj-") and "thumbnail 100x100 image/jpeg" in message, message
    assert message in log and "uploaded: job tj-" in log
    job_id = message.split()[2].rstrip(";")
    tj = json.loads(cluster.kubectl("get", "thumbnailjob", job_id, "-n", up.namespace, "-o", "json").stdout)
    assert tj["status"]["phase"] == "Succeeded" and tj["status"]["reason"] == "ThumbnailReady"
    out = tj["status"]["output"]
    assert (out["width"], out["height"]) == (100, 100)
    stat = cluster.s3.client().stat_object(out["bucket"], out["key"])
    assert stat.size == out["bytes"] > 0


def test_helm_test_pod_fails_with_a_clear_message_when_the_uploader_does_not_answer(cluster, binaries,
                                                                                     restricted_uploader):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    pod, log = run_test_pod(cluster, binaries, "nobody", restricted_uploader.namespace,
                            f"tests.uploaderURL={url}", "tests.timeoutSeconds=3")
    assert pod["status"]["phase"] == "Failed"
    state = terminated(pod)
    assert state["exitCode"] == 1
    assert state["message"].startswith(f"FAILED: cannot reach the uploader at {url}: ")
    assert "Connection refused" in state["message"] and "gave up after the timeout" in state["message"]


def test_chart_has_exactly_one_test_hook_and_it_is_admitted_as_restricted(cluster, binaries, api_client):
    ns = f"t-hook-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": ns, "labels": RESTRICTED}})
    try:
        docs = [d for d in yaml.safe_load_all(chart_yaml(binaries, "thumbs", ns)) if d]
        hooks = [d for d in docs if "helm.sh/hook" in d["metadata"].get("annotations", {})]
        assert [(d["kind"], d["metadata"]["annotations"]["helm.sh/hook"]) for d in hooks] == [("Pod", "test")]
        pod = hooks[0]
        assert pod["metadata"]["annotations"]["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
        assert pod["spec"]["automountServiceAccountToken"] is False and pod["spec"]["restartPolicy"] == "Never"
        env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
        assert env["UPLOADER_URL"] == f"http://thumbs-thumbnailer.{ns}.svc:80"  # the release's Service
        assert any(d["kind"] == "Service" and d["metadata"]["name"] == "thumbs-thumbnailer" for d in docs)
        out = cluster.kubectl("apply", "--dry-run=server", "-n", ns, "-f", "-", input=yaml.safe_dump(pod), check=False)
        assert out.returncode == 0, out.stderr
        assert "pod/thumbs-thumbnailer-upload-test created (server dry run)" in out.stdout
        assert "would violate PodSecurity" not in out.stderr
    finally:
        core.delete_namespace(ns)
