"""`docker compose config` on docker-compose.yml, with the compose v2 that hack/provision.sh builds."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from devcluster.binaries import REPO_ROOT

pytestmark = pytest.mark.integration


def compose(binaries, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binaries.compose), "-f", str(REPO_ROOT / "docker-compose.yml"), *args],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)


def test_compose_validates_the_file_and_resolves_it(binaries):
    proc = compose(binaries, "config")
    assert proc.returncode == 0, proc.stderr
    resolved = yaml.safe_load(proc.stdout)
    assert resolved["name"] == "thumbnailer"
    # The YAML anchor and merge resolved: the operator's own S3 endpoint wins over the shared one.
    assert resolved["services"]["operator"]["environment"]["S3_ENDPOINT"] == "172.28.0.10:9000"
    assert resolved["services"]["uploader"]["environment"]["S3_ENDPOINT"] == "minio:9000"
    assert resolved["services"]["uploader"]["ports"][0]["published"] == "8000"


def test_compose_refuses_a_broken_file(binaries, tmp_path):
    """The check is real: compose itself refuses an unknown key and a dependency cycle."""
    broken = tmp_path / "compose.yml"
    broken.write_text("services:\n  a: {image: x, depends_on: [b]}\n  b: {image: y, depends_on: [a]}\n")
    proc = subprocess.run([str(binaries.compose), "-f", str(broken), "config"], capture_output=True, text=True)
    assert proc.returncode != 0 and "cycle" in proc.stderr.lower(), proc.stderr
    broken.write_text("services:\n  a: {image: x, restart_policy: always}\n")
    proc = subprocess.run([str(binaries.compose), "-f", str(broken), "config"], capture_output=True, text=True)
    assert proc.returncode != 0 and "restart_policy" in proc.stderr, proc.stderr
