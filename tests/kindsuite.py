"""Pure helpers of the kind suite (tests/e2e), unit-tested in tests/unit/test_kindsuite.py.

Nothing here starts a cluster: it decides whether the suite can run (and says
why not in one sentence), and reads what the tools print.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable

import yaml

DOCKER_INFO_TIMEOUT = 20
REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "helm" / "thumbnailer"
RELEASE = "thumbnailer"
NAMESPACE = "thumbnailer"
# _helpers.tpl: the chart's objects are named "<release>-<chart name>[-component]".
FULLNAME = f"{RELEASE}-thumbnailer"


def kind_binary(kind_bin: str | None, which: Callable[[str], str | None] = shutil.which) -> Path | None:
    """The kind to use: ``--kind-bin`` if given, else ``kind`` on PATH (never a download)."""
    if kind_bin:
        return Path(kind_bin)
    found = which("kind")
    return Path(found) if found else None


def skip_reason(kind_bin: str | None, *, which: Callable[[str], str | None] = shutil.which,
                run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> str | None:
    """None if the kind suite can run here, else one sentence saying what is missing."""
    missing = []
    if which("docker") is None:
        missing.append("no docker CLI on PATH")
    else:
        try:
            probe = run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True,
                        timeout=DOCKER_INFO_TIMEOUT)
            if probe.returncode != 0 or not probe.stdout.strip():
                missing.append("no Docker engine answers `docker info`")
        except subprocess.TimeoutExpired:
            missing.append(f"`docker info` did not answer within {DOCKER_INFO_TIMEOUT} s")
    if kind_bin:  # `which` only finds executables; a path given by hand is checked here
        if not (Path(kind_bin).is_file() and os.access(kind_bin, os.X_OK)):
            missing.append(f"--kind-bin {kind_bin} is not an executable file")
    elif kind_binary(None, which) is None:
        missing.append("no `kind` on PATH (or --kind-bin)")
    if not missing:
        return None
    return "kind suite skipped (it needs a Docker engine and kind): " + "; ".join(missing)


def has_test_hook(rendered: str) -> bool:
    """Whether rendered manifests (``helm get hooks``, ``helm template``) hold a ``helm test`` hook."""
    for doc in yaml.safe_load_all(rendered):
        annotations = ((doc or {}).get("metadata") or {}).get("annotations") or {}
        hooks = {h.strip() for h in str(annotations.get("helm.sh/hook", "")).split(",")}
        if hooks & {"test", "test-success"}:
            return True
    return False


def thumbnailjob_phases(kubectl_json: str) -> dict[str, str | None]:
    """``kubectl get thumbnailjobs -o json`` -> {name: status.phase}."""
    return {item["metadata"]["name"]: (item.get("status") or {}).get("phase")
            for item in json.loads(kubectl_json)["items"]}


def image_refs(values: dict) -> tuple[str, str]:
    """The chart's two images (values.yaml image and resizerImage), as ``make images`` tags them."""
    return tuple(f"{values[k]['repository']}:{values[k]['tag']}" for k in ("image", "resizerImage"))


def expected_thumbnail(photo: Path) -> tuple[int, int, str]:
    """(width, height, content type) the resizer makes from ``photo`` with the defaults."""
    from resizer.thumbnail import make_thumbnail

    with photo.open("rb") as f:
        thumb = make_thumbnail(f)
    return thumb.width, thumb.height, thumb.content_type
