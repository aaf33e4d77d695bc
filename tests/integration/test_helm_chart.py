"""The Helm chart renders, lints, and is accepted by a real API server."""

from __future__ import annotations

import json
import subprocess

import pytest

from chartrender import CHART, container_env, render, template
from devcluster.binaries import REPO_ROOT

pytestmark = pytest.mark.integration


def helm(binaries, *args: str) -> str:
    return subprocess.run([str(binaries.helm), *args], check=True, capture_output=True, text=True).stdout


def test_chart_lints(binaries):
    assert "0 chart(s) failed" in helm(binaries, "lint", str(CHART))


@pytest.mark.parametrize("values", [[], ["--set", "minio.enabled=false", "--set", "s3.endpoint=s3.example:443",
                                         "--set", "s3.existingSecret=my-s3"]])
def test_rendered_chart_passes_server_side_dry_run(cluster, crd, namespace, binaries, values):
    kube_version = json.loads(cluster.kubectl("version", "-o", "json").stdout)["serverVersion"]["gitVersion"]
    rendered = template(binaries, "--kube-version", kube_version, *values, namespace=namespace)
    out = cluster.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=rendered)
    assert "deployment.apps/thumbs-thumbnailer-operator created (server dry run)" in out.stdout
    assert "deployment.apps/thumbs-thumbnailer-uploader created (server dry run)" in out.stdout


def test_chart_ships_the_same_crd_as_the_repository():
    assert (CHART / "crds" / "thumbnailjob.yaml").read_bytes() == (REPO_ROOT / "crds" / "thumbnailjob.yaml").read_bytes()


def test_chart_values_reach_the_operator_settings(binaries, monkeypatch):
    """The operator Deployment's env, read by the operator's own settings class, says what the values say."""
    from thumbnail_operator.settings import OperatorSettings

    objects = render(binaries, "--set", "resizer.resources.limits.memory=3Gi", "--set", "operator.maxRunningJobs=7",
                     "--set", "operator.objectDeletionPolicy=Keep", "--set", "resizerImage.tag=9.9",
                     "--set", "operator.jobTTLSecondsAfterFinished=1000000", "--set", "uploader.maxPixels=200000000",
                     "--set", "resizer.maxFrames=50", "--set", "resizer.maxAnimationPixels=1500000000")
    for name, value in container_env(objects, "thumbs-thumbnailer-operator").items():
        monkeypatch.setenv(name, value)
    settings = OperatorSettings()
    assert settings.resizer_resources == {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "3Gi"}}
    assert settings.max_running_jobs == 7 and settings.object_deletion_policy == "Keep"
    assert settings.resizer_image == "thumbnailer-resizer:9.9"
    assert settings.resizer_service_account == "thumbs-thumbnailer-resizer"
    # large integers render as digits, not Helm's float64 exponent form (1e+06)
    assert settings.job_ttl_seconds_after_finished == 1_000_000
    assert settings.max_pixels == 200_000_000 and settings.max_bytes == 52_428_800
    assert settings.max_frames == 50 and settings.max_animation_pixels == 1_500_000_000


def test_the_operator_gets_its_pod_name_as_kopf_identity(binaries):
    """Without POD_ID Kopf asks the passwd database for a user name, which UID 10001 has none of."""
    dep = next(d for d in render(binaries) if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-operator"))
    env = {v["name"]: v for v in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["POD_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_pinned_helm_renders_the_chart_without_kube_version(binaries):
    """`helm template` as docs/installing.md gives it: the pinned helm knows a Kubernetes version the chart accepts
    (built with the version ldflags Helm's own Makefile sets; without them Helm assumes v1.20)."""
    assert "name: thumbs-thumbnailer-operator" in template(binaries)


def test_chart_values_reach_the_uploader_settings(binaries, monkeypatch):
    """The uploader Deployment's env, read by the uploader's own settings class, says what the values say."""
    from uploader.settings import UploaderSettings

    objects = render(binaries, "--set", "uploader.threads=32", "--set", "uploader.bodyReadTimeoutSeconds=12",
                     "--set", "uploader.maxUploadBytes=1000")
    for name, value in container_env(objects, "thumbs-thumbnailer-uploader").items():
        monkeypatch.setenv(name, value)
    settings = UploaderSettings()
    assert settings.threads == 32 and settings.body_read_timeout_seconds == 12 and settings.max_upload_bytes == 1000


def test_an_external_endpoint_turns_the_bundled_minio_off(binaries):
    bundled = render(binaries)
    assert any(d["metadata"]["name"] == "thumbs-thumbnailer-minio" for d in bundled)
    assert container_env(bundled, "thumbs-thumbnailer-uploader")["S3_CREATE_BUCKET"] == "true"
    external = render(binaries, "--set", "s3.endpoint=s3.example.com:443")
    assert not [d for d in external if "minio" in d["metadata"]["name"]]
    for component in ("uploader", "operator"):
        assert container_env(external, f"thumbs-thumbnailer-{component}")["S3_ENDPOINT"] == "s3.example.com:443"
    assert container_env(external, "thumbs-thumbnailer-uploader")["S3_CREATE_BUCKET"] == "false"


def _pdbs(objects: list[dict]) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in objects if d["kind"] == "PodDisruptionBudget"}


def test_the_operator_rolls_out_standby_first_and_drains_keep_one_pod(binaries):
    """Two operators by default: a rollout starts the new pod before stopping one (a stopping leader
    releases its Lease), and a PodDisruptionBudget keeps one through node drains."""
    objects = render(binaries)
    operator = next(d for d in objects if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-operator"))
    assert operator["spec"]["replicas"] == 2
    assert operator["spec"]["strategy"] == {"type": "RollingUpdate",
                                            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    pdbs = _pdbs(objects)
    assert list(pdbs) == ["thumbs-thumbnailer-operator"]  # one uploader by default: no budget to block drains
    budget = pdbs["thumbs-thumbnailer-operator"]["spec"]
    assert budget["minAvailable"] == 1
    pod_labels = operator["spec"]["template"]["metadata"]["labels"]
    assert budget["selector"]["matchLabels"].items() <= pod_labels.items()


def test_a_budget_exists_only_for_components_with_more_than_one_replica(binaries):
    objects = render(binaries, "--set", "operator.replicas=1", "--set", "uploader.replicas=3")
    pdbs = _pdbs(objects)
    assert list(pdbs) == ["thumbs-thumbnailer-uploader"]
    uploader = next(d for d in objects if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-uploader"))
    selector = pdbs["thumbs-thumbnailer-uploader"]["spec"]["selector"]["matchLabels"]
    assert selector.items() <= uploader["spec"]["template"]["metadata"]["labels"].items()
    assert not [d for d in objects if d["kind"] == "Deployment" and d is not uploader
                and selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()]


def _selects(selector: dict, labels: dict) -> bool:
    """Kubernetes label-selector semantics for matchLabels and `In` expressions (all the chart uses)."""
    return selector.get("matchLabels", {}).items() <= labels.items() and all(
        labels.get(e["key"]) in e["values"] for e in selector.get("matchExpressions", []) if e["operator"] == "In")


def test_the_pod_monitor_scrapes_the_metrics_ports_of_the_operator_and_the_uploader(binaries):
    objects = render(binaries, "--set", "metrics.podMonitor.enabled=true", "--set", "metrics.podMonitor.labels.release=kps",
                     "--api-versions", "monitoring.coreos.com/v1/PodMonitor")
    monitor = next(d for d in objects if d["kind"] == "PodMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kps"
    pods = {d["metadata"]["name"]: d["spec"]["template"] for d in objects if d["kind"] == "Deployment"}
    scraped = {name for name, pod in pods.items() if _selects(monitor["spec"]["selector"], pod["metadata"]["labels"])}
    assert scraped == {"thumbs-thumbnailer-operator", "thumbs-thumbnailer-uploader"}  # not MinIO
    ports = {name: {p["name"] for c in pods[name]["spec"]["containers"] for p in c.get("ports", [])} for name in scraped}
    endpoints = {e["port"]: e for e in monitor["spec"]["podMetricsEndpoints"]}
    assert "metrics" in ports["thumbs-thumbnailer-operator"] and "http" in ports["thumbs-thumbnailer-uploader"]
    assert set(endpoints) == {"metrics", "http"} and all(e["path"] == "/metrics" for e in endpoints.values())
    assert not [d for d in render(binaries) if d["kind"] == "PodMonitor"]  # off by default


def test_the_pod_monitor_is_refused_where_the_cluster_has_no_podmonitor_crd(binaries):
    with pytest.raises(subprocess.CalledProcessError) as refused:
        render(binaries, "--set", "metrics.podMonitor.enabled=true")
    assert "needs the Prometheus Operator's PodMonitor CRD" in refused.value.stderr


def test_the_documented_gitops_render_is_stable_and_complete(binaries):
    """The GitOps command of docs/installing.md: the CRD included, no test hook, and the same output every time."""
    args = ("--include-crds", "--skip-tests", "--set", "s3.endpoint=s3.example.com:443",
            "--set", "s3.existingSecret=thumbnailer-s3")
    first = template(binaries, *args, namespace="media")
    assert first == template(binaries, *args, namespace="media")  # nothing random: no Secret flapping per sync
    kinds = {(d["kind"], d["metadata"]["name"]) for d in render(binaries, *args, namespace="media")}
    assert ("CustomResourceDefinition", "thumbnailjobs.thumbnailer.dev") in kinds
    assert not [k for k in kinds if k[0] in ("Pod", "Secret")]  # no helm-test Pod, no generated Secret
    # Without --skip-tests and with a generated key, two renders differ: why docs/installing.md asks for both.
    assert template(binaries, namespace="media") != template(binaries, namespace="media")
