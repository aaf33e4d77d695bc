"""The documented CRD upgrade path, on a private API server (the CRD is cluster-scoped and the session's
other tests need the current one): install a chart whose CRD is older, create a ThumbnailJob, run the
documented command with the current chart, then `helm upgrade`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
import yaml

from devcluster.binaries import REPO_ROOT
from devcluster.controlplane import ControlPlane

pytestmark = pytest.mark.integration
CHART = REPO_ROOT / "helm" / "thumbnailer"
CRD_NAME = "thumbnailjobs.thumbnailer.dev"
# The command docs/installing.md and the chart's NOTES.txt give; `<chart>` is the chart reference.
UPGRADE_CRDS = "helm show crds <chart> | kubectl apply --server-side --force-conflicts -f -"
VALUES = ["--set", "minio.enabled=false", "--set", "s3.endpoint=s3.example:443", "--set", "s3.existingSecret=s3"]
# Deliberately without spec.format; the object must come through the upgrade exactly as it was.
OLD_JOB = {"apiVersion": "thumbnailer.dev/v1alpha1", "kind": "ThumbnailJob", "metadata": {"name": "before-upgrade"},
           "spec": {"source": {"key": "brand/logo.png"}, "size": {"width": 64, "height": 48}, "fit": "contain"}}


def older_crd() -> dict:
    """The current CRD as an earlier release had it: no selectableFields, no Reason and Output
    printer columns, no optional spec.format."""
    crd = yaml.safe_load((REPO_ROOT / "crds" / "thumbnailjob.yaml").read_text())
    version = crd["spec"]["versions"][0]
    del version["selectableFields"]
    version["additionalPrinterColumns"] = [c for c in version["additionalPrinterColumns"]
                                           if c["name"] not in ("Reason", "Output")]
    del version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["format"]
    return crd


class Shell:
    """Runs commands the way a person would, against the private API server, from the repository root."""

    def __init__(self, control_plane: ControlPlane, binaries):
        self.env = {**os.environ, "KUBECONFIG": str(control_plane.admin_kubeconfig),
                    "PATH": os.pathsep.join([*binaries.path_dirs, os.environ.get("PATH", "")])}

    def __call__(self, *argv: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(list(argv), env=self.env, cwd=REPO_ROOT, capture_output=True, text=True, input=input,
                             timeout=120)
        if check and out.returncode != 0:
            pytest.fail(f"{' '.join(argv)} failed ({out.returncode}): {out.stdout}{out.stderr}")
        return out

    def json(self, *argv: str) -> dict:
        return json.loads(self(*argv, "-o", "json").stdout)


@pytest.fixture(scope="module")
def sh(binaries, tmp_path_factory):
    cp = ControlPlane(tmp_path_factory.mktemp("crd-upgrade"), binaries)
    cp.start()
    yield Shell(cp, binaries)
    cp.stop()


def test_documented_crd_upgrade_then_helm_upgrade(sh, tmp_path):
    old_chart = tmp_path / "thumbnailer"
    shutil.copytree(CHART, old_chart)
    (old_chart / "crds" / "thumbnailjob.yaml").write_text(yaml.safe_dump(older_crd()))
    sh("helm", "install", "thumbs", str(old_chart), *VALUES)  # creates the (older) CRD, as a first install does
    sh("kubectl", "wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=60s")

    sh("kubectl", "apply", "-f", "-", input=json.dumps(OLD_JOB))
    sh("kubectl", "patch", "thumbnailjob", "before-upgrade", "--subresource=status", "--type=merge",
       "-p", '{"status": {"phase": "Succeeded", "reason": "ThumbnailReady", "message": "done"}}')
    before = sh.json("kubectl", "get", "thumbnailjob", "before-upgrade")
    # The older CRD: no field selector on status.phase, no REASON column.
    refused = sh("kubectl", "get", "tj", "--field-selector", "status.phase=Succeeded", check=False)
    assert refused.returncode != 0 and "field label not supported" in refused.stderr
    assert "REASON" not in sh("kubectl", "get", "tj").stdout
    # Helm's own field manager owns the CRD: a plain server-side apply conflicts, hence --force-conflicts.
    plain = sh("bash", "-c", "helm show crds helm/thumbnailer | kubectl apply --server-side -f -", check=False)
    assert plain.returncode != 0 and 'conflict with "helm"' in plain.stderr

    # Upgrade, exactly as documented.
    command = UPGRADE_CRDS.replace("<chart>", "helm/thumbnailer")
    first = sh("bash", "-o", "pipefail", "-c", command)
    assert first.stdout.strip() == f"customresourcedefinition.apiextensions.k8s.io/{CRD_NAME} serverside-applied"
    sh("kubectl", "wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=60s")

    crd = sh.json("kubectl", "get", "crd", CRD_NAME)
    version = crd["spec"]["versions"][0]
    current = yaml.safe_load((REPO_ROOT / "crds" / "thumbnailjob.yaml").read_text())["spec"]["versions"][0]
    assert version["selectableFields"] == current["selectableFields"] == [{"jsonPath": ".status.phase"}]
    assert [c["name"] for c in version["additionalPrinterColumns"]] == [
        c["name"] for c in current["additionalPrinterColumns"]]
    assert "format" in version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert crd["status"]["storedVersions"] == ["v1alpha1"]

    # The existing object is untouched and readable; the new columns and the field selector see it.
    after = sh.json("kubectl", "get", "thumbnailjob", "before-upgrade")
    for key in ("uid", "resourceVersion", "generation", "creationTimestamp"):
        assert after["metadata"][key] == before["metadata"][key], key
    assert after["spec"] == before["spec"] == OLD_JOB["spec"]
    assert after["status"] == before["status"]
    selected = sh("kubectl", "get", "tj", "--field-selector", "status.phase=Succeeded", "-o", "name").stdout.split()
    assert selected == ["thumbnailjob.thumbnailer.dev/before-upgrade"]
    assert sh("kubectl", "get", "tj", "--field-selector", "status.phase=Failed", "-o", "name").stdout == ""
    header, row = sh("kubectl", "get", "tj", "-o", "wide").stdout.splitlines()
    assert header.split() == ["NAME", "PHASE", "SOURCE", "WIDTH", "HEIGHT", "FIT", "REASON", "OUTPUT", "AGE"]
    assert row.split()[:7] == ["before-upgrade", "Succeeded", "brand/logo.png", "64", "48", "contain",
                               "ThumbnailReady"]
    # The new optional field is kept now (the older schema would have pruned it).
    new_job = {**OLD_JOB, "metadata": {"name": "after-upgrade"}, "spec": {**OLD_JOB["spec"], "format": "webp"}}
    sh("kubectl", "apply", "-f", "-", input=json.dumps(new_job))
    assert sh.json("kubectl", "get", "tj", "after-upgrade")["spec"]["format"] == "webp"

    # Idempotent: running it again changes nothing and meets no conflict.
    second = sh("bash", "-o", "pipefail", "-c", command)
    assert second.stdout == first.stdout and "conflict" not in second.stderr
    again = sh.json("kubectl", "get", "crd", CRD_NAME)
    assert again["metadata"]["resourceVersion"] == crd["metadata"]["resourceVersion"]
    assert again["metadata"]["generation"] == crd["metadata"]["generation"]

    # Then the release itself; Helm leaves the CRD as applied.
    sh("helm", "upgrade", "thumbs", str(CHART), *VALUES)
    assert sh("helm", "history", "thumbs", "-o", "json").stdout.count('"status":"deployed"') == 1
    final = sh.json("kubectl", "get", "crd", CRD_NAME)
    assert final["spec"] == crd["spec"] and final["metadata"]["resourceVersion"] == crd["metadata"]["resourceVersion"]
    assert sh.json("kubectl", "get", "tj", "before-upgrade")["metadata"]["resourceVersion"] == \
        before["metadata"]["resourceVersion"]


def test_notes_give_the_documented_command():
    notes = (CHART / "templates" / "NOTES.txt").read_text()
    assert UPGRADE_CRDS in notes
