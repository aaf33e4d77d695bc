"""The Helm chart rendered with the pinned helm, and what its Deployments hand their containers."""

from __future__ import annotations

import subprocess

import yaml

from devcluster.binaries import REPO_ROOT

CHART = REPO_ROOT / "helm" / "thumbnailer"
RELEASE = "thumbs"


def template(binaries, *args: str, release: str = RELEASE, namespace: str = "default") -> str:
    """The YAML of ``helm template <release> helm/thumbnailer`` with ``args`` (e.g. ``--set k=v``).

    Raises :class:`subprocess.CalledProcessError` when helm refuses (bad values).
    """
    return subprocess.run([str(binaries.helm), "template", release, str(CHART), "--namespace", namespace, *args],
                          check=True, capture_output=True, text=True).stdout


def render(binaries, *args: str, release: str = RELEASE, namespace: str = "default") -> list[dict]:
    """:func:`template`, parsed: the non-empty objects."""
    return [d for d in yaml.safe_load_all(template(binaries, *args, release=release, namespace=namespace)) if d]


def container_env(objects: list[dict], deployment: str, namespace: str = "default") -> dict[str, str]:
    """The env the chart gives a Deployment's first container: literal values and the namespace fieldRef.

    Secret references are left out (callers supply credentials of their own).
    """
    dep = next(d for d in objects if d["kind"] == "Deployment" and d["metadata"]["name"] == deployment)
    env = {}
    for var in dep["spec"]["template"]["spec"]["containers"][0]["env"]:
        if "value" in var:
            env[var["name"]] = var["value"]
        elif var.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            env[var["name"]] = namespace
    return env


def with_session_store(cluster, binaries, namespace: str) -> list[dict]:
    """The chart's objects for ``namespace`` with the test session's S3 server as its external store
    (and the Secret ``thumbnailer-s3`` the harness creates)."""
    return render(binaries, "--set", "minio.enabled=false", "--set", f"s3.endpoint={cluster.s3.endpoint}",
                  "--set", "s3.existingSecret=thumbnailer-s3", namespace=namespace)
