"""The kind suite's pure helpers (tests/kindsuite.py): when it skips and why, and what it reads."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

import kindsuite

PHOTOS = Path(__file__).resolve().parents[1] / "data" / "photos"


def which_from(*present: str):
    return lambda name: f"/usr/bin/{name}" if name in present else None


def docker_info(returncode: int = 0, stdout: str = "28.2.2\n"):
    calls = []

    def run(cmd, **kwargs):
        calls.append(cmd)
        assert kwargs.get("timeout"), "the probe must not hang on a stuck engine"
        return subprocess.CompletedProcess(cmd, returncode, stdout=stdout, stderr="")
    run.calls = calls
    return run


def test_runs_when_docker_answers_and_kind_is_on_path():
    run = docker_info()
    assert kindsuite.skip_reason(None, which=which_from("docker", "kind"), run=run) is None
    assert run.calls == [["docker", "info", "--format", "{{.ServerVersion}}"]]


def test_no_engine_says_so_in_one_sentence():
    why = kindsuite.skip_reason(None, which=which_from("docker", "kind"),
                                run=docker_info(1, stdout=""))
    assert why == "kind suite skipped (it needs a Docker engine and kind): no Docker engine answers `docker info`"
    assert "\n" not in why


def test_both_missing_are_named_together():
    # This machine: the docker CLI without a daemon, and no kind.
    why = kindsuite.skip_reason(None, which=which_from("docker"), run=docker_info(1, stdout=""))
    assert why.endswith("no Docker engine answers `docker info`; no `kind` on PATH (or --kind-bin)")


def test_no_docker_cli_is_not_probed():
    def run(*a, **k):
        raise AssertionError("docker info must not run without a docker CLI")
    why = kindsuite.skip_reason(None, which=which_from("kind"), run=run)
    assert why.endswith("no docker CLI on PATH")


def test_a_docker_info_that_hangs_counts_as_no_engine():
    def run(cmd, **kwargs):
        raise subprocess.TimeoutExpired(cmd, kwargs["timeout"])
    why = kindsuite.skip_reason(None, which=which_from("docker", "kind"), run=run)
    assert why.endswith(f"`docker info` did not answer within {kindsuite.DOCKER_INFO_TIMEOUT} s")


def test_kind_bin_option_replaces_path_lookup_and_must_be_executable(tmp_path):
    kind = tmp_path / "kind"
    kind.write_text("#!/bin/sh\n")
    kind.chmod(0o755)
    assert kindsuite.skip_reason(str(kind), which=which_from("docker"), run=docker_info()) is None
    assert kindsuite.kind_binary(str(kind), which=which_from()) == kind
    missing = tmp_path / "nope"
    why = kindsuite.skip_reason(str(missing), which=which_from("docker", "kind"), run=docker_info())
    assert why.endswith(f"--kind-bin {missing} is not an executable file")


def test_kind_from_path_is_used_so_nothing_downloads():
    assert kindsuite.kind_binary(None, which=which_from("kind")) == Path("/usr/bin/kind")
    assert kindsuite.kind_binary(None, which=which_from()) is None


def test_test_hook_detection():
    hook = {"kind": "Pod", "metadata": {"name": "t", "annotations": {"helm.sh/hook": "test"}}}
    old_style = {"kind": "Pod", "metadata": {"name": "t", "annotations": {"helm.sh/hook": "test-success"}}}
    install_hook = {"kind": "Job", "metadata": {"name": "j", "annotations": {"helm.sh/hook": "pre-install,post-upgrade"}}}
    plain = {"kind": "Service", "metadata": {"name": "s"}}
    render = lambda *docs: "---\n".join(yaml.safe_dump(d) for d in docs) + "---\n"  # noqa: E731
    assert kindsuite.has_test_hook(render(plain, hook))
    assert kindsuite.has_test_hook(render(old_style))
    assert not kindsuite.has_test_hook(render(plain, install_hook))
    assert not kindsuite.has_test_hook("")


def test_thumbnailjob_phases_from_kubectl_json():
    out = json.dumps({"items": [
        {"metadata": {"name": "tj-a"}, "status": {"phase": "Succeeded"}},
        {"metadata": {"name": "tj-b"}},
    ]})
    assert kindsuite.thumbnailjob_phases(out) == {"tj-a": "Succeeded", "tj-b": None}


def test_image_refs_are_the_charts():
    values = yaml.safe_load((kindsuite.CHART / "values.yaml").read_text())
    assert kindsuite.image_refs(values) == ("thumbnailer:0.1.0", "thumbnailer-resizer:0.1.0")


@pytest.mark.parametrize("photo", sorted(p.name for p in PHOTOS.iterdir() if p.suffix in (".jpg", ".png")))
def test_every_shared_photo_makes_a_100x100_thumbnail_by_default(photo):
    width, height, content_type = kindsuite.expected_thumbnail(PHOTOS / photo)
    assert (width, height) == (100, 100)
    # Transparency (horse.png) keeps PNG; opaque stills become JPEG.
    assert content_type == ("image/png" if photo == "horse.png" else "image/jpeg")


def test_kind_and_the_real_node_run_the_same_scenarios():
    """tests/e2e/test_kind_chart.py and tests/node/test_node_chart.py collect the same tests."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]

    def collected(path: str) -> set[str]:
        out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", path],
                             cwd=root, capture_output=True, text=True, check=True).stdout
        return {line.split("::", 1)[1] for line in out.splitlines() if "::" in line}

    node, kind = collected("tests/node/test_node_chart.py"), collected("tests/e2e/test_kind_chart.py")
    assert len(node) >= 30 and node == kind
