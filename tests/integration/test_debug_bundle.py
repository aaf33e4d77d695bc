"""The debug bundle (``python -m debugbundle``) on the local control plane:
a namespace with finished ThumbnailJobs and a real Helm release, then a namespace
where nothing exists, read by a user who may read nothing."""

from __future__ import annotations

import io
import json
import os
import secrets
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from devcluster.binaries import REPO_ROOT
from devcluster.components import ensure_s3_secret
from thumbnailer import api

pytestmark = pytest.mark.integration
CHART = REPO_ROOT / "helm" / "thumbnailer"
PHOTO = Path(__file__).resolve().parents[1] / "data" / "photos" / "grace_hopper.jpg"
RELEASE = "thumbs"


def run_bundle(kubeconfig: Path, namespace: str, output: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "debugbundle", "--namespace", namespace,
                           "--output", str(output), *extra],
                          env={**os.environ, "KUBECONFIG": str(kubeconfig)}, capture_output=True, text=True,
                          timeout=180)


def read_tarball(path: Path) -> dict[str, bytes]:
    """Every file of the bundle, by its path below the top directory; the first must be README.txt."""
    with tarfile.open(path) as tar:
        members = tar.getmembers()
        assert members[0].name.split("/", 1)[1] == "README.txt"
        assert len({m.name.split("/", 1)[0] for m in members}) == 1  # one top directory
        return {m.name.split("/", 1)[1]: tar.extractfile(m).read() for m in members}


def apply_thumbnailjob(cluster, ns: str, name: str, key: str) -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": api.API_VERSION, "kind": api.KIND, "metadata": {"name": name, "namespace": ns},
        "spec": {"source": {"key": key}}}))


@pytest.fixture
def bundle_namespace(cluster, crd, api_client):
    name = f"t-bundle-{uuid.uuid4().hex[:6]}"  # watched by the session's operator
    core = client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": name}})
    ensure_s3_secret(cluster, name)
    yield name
    core.delete_namespace(name)


def test_bundle_of_a_namespace_with_jobs_and_a_helm_release(cluster, operator, binaries, bundle_namespace,
                                                            tmp_path):
    ns = bundle_namespace
    data = PHOTO.read_bytes()
    key = f"bundle/{ns}.jpg"
    cluster.s3.client().put_object(cluster.s3.bucket, key, io.BytesIO(data), len(data), content_type="image/jpeg")
    apply_thumbnailjob(cluster, ns, "good", key)
    apply_thumbnailjob(cluster, ns, "missing", "bundle/not-there.jpg")
    cluster.kubectl("wait", "-n", ns, "--for=condition=Complete", "thumbnailjob/good", "--timeout=120s")
    cluster.kubectl("wait", "-n", ns, "--for=condition=Failed", "thumbnailjob/missing", "--timeout=120s")

    release_secret = secrets.token_hex(16)
    subprocess.run([str(binaries.helm), "install", RELEASE, str(CHART), "--namespace", ns,
                    "--kubeconfig", str(cluster.kubeconfig), "--set", "minio.enabled=false",
                    "--set", f"s3.endpoint={cluster.s3.endpoint}", "--set", "operator.replicas=0",
                    "--set", "uploader.replicas=0", "--set-string", f"s3.secretKey={release_secret}"],
                   check=True, capture_output=True, text=True, timeout=120)

    out = run_bundle(cluster.kubeconfig, ns, tmp_path / "bundle.tar.gz", "--helm", str(binaries.helm))
    assert out.returncode == 0, out.stderr
    files = read_tarball(tmp_path / "bundle.tar.gz")
    readme = files["README.txt"].decode()
    assert "FAILED" not in readme, readme

    tjs = {o["metadata"]["name"]: o for o in yaml.safe_load(files["thumbnailjobs.yaml"])["items"]}
    assert tjs["good"]["status"]["phase"] == "Succeeded" and tjs["good"]["status"]["output"]["width"] == 100
    assert tjs["missing"]["status"]["reason"] == "SourceNotFound"
    rows = {line.split()[0]: line.split() for line in files["thumbnailjobs.txt"].decode().splitlines()[1:]}
    assert rows["good"][1:3] == ["Succeeded", "ThumbnailReady"] and rows["missing"][1:3] == ["Failed",
                                                                                           "SourceNotFound"]

    events = yaml.safe_load(files["events.yaml"])["items"]
    reasons = [e["reason"] for e in events if e["involvedObject"]["name"] == "good"]
    assert "JobCreated" in reasons and "ThumbnailReady" in reasons
    times = [e.get("lastTimestamp") or e.get("eventTime") or "" for e in events]
    assert times == sorted(times)
    assert "ThumbnailReady" in files["events.txt"].decode()

    # The resizer pods' logs, as kubectl logs shows them.
    pods = {p["metadata"]["labels"]["job-name"]: p["metadata"]["name"]
            for p in yaml.safe_load(files["pods.yaml"])["items"]}
    good_log = files[f"logs/{pods['good-g1']}/resizer.log"].decode()
    assert "resizer INFO" in good_log and f"thumbnails/{ns}/good.jpg" in good_log
    assert "SourceNotFound" in files[f"logs/{pods['missing-g1']}/resizer.log"].decode()
    assert {d["metadata"]["name"] for d in yaml.safe_load(files["deployments.yaml"])["items"]} == {
        f"{RELEASE}-thumbnailer-operator", f"{RELEASE}-thumbnailer-uploader"}
    assert yaml.safe_load(files["jobs.yaml"])["items"]
    assert "leases.yaml" in files

    values = yaml.safe_load(files[f"helm/{RELEASE}/values.yaml"])
    assert values["s3"]["secretKey"] == "REDACTED" and values["s3"]["accessKey"] == "REDACTED"
    assert values["s3"]["endpoint"] == cluster.s3.endpoint
    assert values["s3"]["existingSecret"] == "" and values["operator"]["replicas"] == 0
    releases = json.loads(files["helm/releases.json"])
    assert [(r["name"], r["chart"]) for r in releases] == [(RELEASE, "thumbnailer-0.1.0")]

    versions = yaml.safe_load(files["versions.yaml"])
    server = json.loads(cluster.kubectl("version", "-o", "json").stdout)["serverVersion"]["gitVersion"]
    assert versions["server"]["gitVersion"] == server and server in readme
    assert versions["crd"]["served"] == [api.VERSION] and versions["crd"]["storedVersions"] == [api.VERSION]
    assert isinstance(versions["crd"]["generation"], int)
    assert versions["chart"]["version"] == "0.1.0" and versions["chart"]["appVersion"] == "0.1.0"
    assert versions["chart"]["source"] == f"helm release {RELEASE}"
    assert versions["tool"]["version"] == "0.1.0"

    # No secret of the cluster's store or of the release, anywhere.
    for secret in (cluster.s3.secret_key, release_secret):
        leaks = [path for path, content in files.items() if secret.encode() in content]
        assert not leaks, leaks


def test_bundle_where_nothing_exists_and_the_user_may_read_nothing(cluster, api_client, binaries, namespace,
                                                                    tmp_path):
    # As admin: an empty namespace is not an error, only nothing to report.
    out = run_bundle(cluster.kubeconfig, namespace, tmp_path / "empty.tar.gz", "--helm", str(binaries.helm))
    assert out.returncode == 0, out.stderr
    files = read_tarball(tmp_path / "empty.tar.gz")
    readme = files["README.txt"].decode()
    assert "0 ThumbnailJobs" in readme and "no Helm release of the thumbnailer chart" in readme
    assert files["thumbnailjobs.txt"] == b"No ThumbnailJobs.\n"
    assert any(line.startswith("FAILED") and "chart version" in line for line in readme.splitlines())

    # As a ServiceAccount without any role, and without helm: a tarball that lists every gap.
    core = client.CoreV1Api(api_client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "nobody"}})
    token = core.create_namespaced_service_account_token("nobody", namespace,
                                                         {"spec": {"expirationSeconds": 3600}}).status.token
    kubeconfig = cluster.token_kubeconfig(tmp_path / "nobody.kubeconfig", token)
    out = run_bundle(kubeconfig, namespace, tmp_path / "denied.tar.gz", "--helm", str(tmp_path / "no-helm"))
    assert out.returncode == 0, out.stderr
    readme = read_tarball(tmp_path / "denied.tar.gz")["README.txt"].decode()
    failed = {line.split()[1]: line for line in readme.splitlines() if line.startswith("FAILED")}
    for step in ("thumbnailjobs", "events", "pods", "jobs", "deployments", "leases", "crd"):
        assert "HTTP 403 Forbidden" in failed[step] and "system:serviceaccount" in failed[step], step
    assert "not collected" in failed["logs"] and "helm not found" in failed["helm"]
    assert any(line.startswith("ok") and "server version" in line for line in readme.splitlines())
