"""The kind suite (pytest-kind): the same CRD on a real kind cluster.

Runs wherever a Docker engine answers; elsewhere every test here is skipped
with the reason. ``make e2e`` runs only this folder.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from thumbnailer import api

REPO_ROOT = Path(__file__).resolve().parents[2]


def _docker_engine() -> str | None:
    """None if a Docker engine answers, else why not."""
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    probe = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True)
    if probe.returncode != 0:
        return "no Docker engine answers `docker info` (kind runs its nodes as Docker containers)"
    return None


_why_not = _docker_engine()
pytestmark = [pytest.mark.kind, pytest.mark.skipif(_why_not is not None, reason=f"kind suite skipped: {_why_not}")]


def test_crd_installs_and_serves_thumbnailjobs_on_kind(kind_cluster):
    kind_cluster.kubectl("apply", "-f", str(REPO_ROOT / "crds" / "thumbnailjob.yaml"))
    kind_cluster.kubectl("wait", "--for=condition=Established", f"crd/{api.CRD_NAME}", "--timeout=60s")
    out = kind_cluster.kubectl("get", api.PLURAL, "-A")
    assert "No resources found" in out or out.strip() == ""
