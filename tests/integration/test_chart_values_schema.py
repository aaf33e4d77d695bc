"""values.schema.json, enforced by the pinned Helm: good values render, bad ones fail naming the key."""

from __future__ import annotations

import subprocess

import pytest

from devcluster.binaries import REPO_ROOT

pytestmark = pytest.mark.integration
CHART = REPO_ROOT / "helm" / "thumbnailer"
EXTERNAL_S3 = ["minio.enabled=false", "s3.endpoint=s3.example:443"]

# Every set of values another test (or docs/installing.md) renders the chart with.
GOOD = {
    "defaults": [],
    "external store with an existing Secret": [*EXTERNAL_S3, "s3.existingSecret=my-s3"],
    "the RBAC test's loopback store": ["minio.enabled=false", "s3.endpoint=127.0.0.1:39123",
                                      "s3.existingSecret=thumbnailer-s3"],
    "the helm test pod pointed at a local uploader": [*EXTERNAL_S3, "tests.uploaderURL=http://127.0.0.1:8000",
                                                       "tests.timeoutSeconds=5"],
    "no operator cap, Keep, scaled to zero": ["operator.maxRunningJobs=0", "operator.objectDeletionPolicy=Keep",
                                              "uploader.replicas=0", "operator.replicas=0"],
    "resources Kubernetes accepts": ["uploader.resources.requests.cpu=0.5", "uploader.resources.limits.memory=1Gi",
                                     "operator.resources.limits.ephemeral-storage=2Gi",
                                     "operator.resources.limits.nvidia\\.com/gpu=1"],
    "LoadBalancer on 8080": ["uploader.service.type=LoadBalancer", "uploader.service.port=8080"],
}

# (values, the key the error must name, a fragment of Helm's message)
BAD = {
    "typo at the top level": (["operatr.replicas=1"], "additional properties 'operatr' not allowed", ""),
    "typo in a component block": (["operator.replica=1"], "at '/operator'", "'replica'"),
    "objectDeletionPolicy=Sometimes": (["operator.objectDeletionPolicy=Sometimes"],
                                       "at '/operator/objectDeletionPolicy'", "'Delete', 'Keep'"),
    "replicas=-1": (["operator.replicas=-1"], "at '/operator/replicas'", "minimum"),
    "maxRunningJobs=ten": (["operator.maxRunningJobs=ten"], "at '/operator/maxRunningJobs'", "want integer"),
    "maxUploadBytes=0": (["uploader.maxUploadBytes=0"], "at '/uploader/maxUploadBytes'", "minimum"),
    "maxFrames=0": (["resizer.maxFrames=0"], "at '/resizer/maxFrames'", "minimum"),
    "scrape interval soon": (["metrics.podMonitor.interval=soon"], "at '/metrics/podMonitor/interval'",
                             "does not match pattern"),
    "port 70000": (["uploader.service.port=70000"], "at '/uploader/service/port'", "maximum"),
    "service type Ingress": (["uploader.service.type=Ingress"], "at '/uploader/service/type'", "ClusterIP"),
    "pullPolicy sometimes": (["image.pullPolicy=sometimes"], "at '/image/pullPolicy'", "IfNotPresent"),
    "endpoint with a scheme": ([*EXTERNAL_S3[:1], "s3.endpoint=https://s3.example"], "at '/s3/endpoint'",
                               "does not match pattern"),
    "unknown resources field": (["uploader.resources.request.cpu=1"], "at '/uploader/resources'", "'request'"),
    "a quantity that is not one": (["uploader.resources.limits.memory=lots"],
                                   "at '/uploader/resources/limits/memory'", ""),
    # Packed into RESIZER_RESOURCES, a negative limit would only fail when the operator creates Jobs.
    "a negative resizer memory limit": (["resizer.resources.limits.memory=-1Gi"],
                                        "at '/resizer/resources/limits/memory'", ""),
    "a MinIO secret key under 8 characters": (["s3.secretKey=short"], "at '/s3/secretKey'", "does not match pattern"),
}


def helm(binaries, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binaries.helm), *args], capture_output=True, text=True)


def sets(values: list[str]) -> list[str]:
    return [a for v in values for a in ("--set", v)]


@pytest.mark.parametrize("values", GOOD.values(), ids=GOOD.keys())
def test_good_values_lint_and_render(binaries, values):
    lint = helm(binaries, "lint", str(CHART), "--strict", *sets(values))
    assert lint.returncode == 0, lint.stdout + lint.stderr
    out = helm(binaries, "template", "thumbs", str(CHART), "--kube-version", "1.36.3", *sets(values))
    assert out.returncode == 0, out.stderr
    assert "kind: Deployment" in out.stdout


@pytest.mark.parametrize("values,where,what", BAD.values(), ids=BAD.keys())
def test_bad_values_fail_lint_and_template_naming_the_key(binaries, values, where, what):
    lint = helm(binaries, "lint", str(CHART), *sets(values))
    assert lint.returncode != 0
    assert where in lint.stdout and what in lint.stdout, lint.stdout
    out = helm(binaries, "template", "thumbs", str(CHART), "--kube-version", "1.36.3", *sets(values))
    assert out.returncode != 0 and out.stdout == ""
    assert "values don't meet the specifications of the schema" in out.stderr
    assert where in out.stderr and what in out.stderr, out.stderr


def test_a_typo_in_a_values_file_is_caught_too(binaries, tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text("minio:\n  enabled: false\ns3:\n  endpoint: s3.example:443\n  bucktt: other\n")
    out = helm(binaries, "template", "thumbs", str(CHART), "--kube-version", "1.36.3", "-f", str(values))
    assert out.returncode != 0
    assert "at '/s3': additional properties 'bucktt' not allowed" in out.stderr


def test_minio_off_without_an_endpoint_says_what_to_set(binaries):
    out = helm(binaries, "template", "thumbs", str(CHART), "--kube-version", "1.36.3", "--set", "minio.enabled=false")
    assert out.returncode != 0 and out.stdout == ""
    assert "minio.enabled=false needs s3.endpoint, the host:port of your S3 store" in out.stderr, out.stderr
