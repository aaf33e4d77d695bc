"""The kind suite's own test: the chart with its defaults (bundled MinIO), as the kind
install of docs/installing.md does. The shared scenarios run in test_kind_chart.py.

``make e2e`` runs it (Docker and kind on PATH needed; several minutes: the
images are built, the kind node image and MinIO pulled). Elsewhere, as under
``make test`` in CI, it is skipped with one sentence saying why.

One test, because its steps only make sense in order on one release: upload
the shared photos, check their thumbnails and ThumbnailJobs, run the chart's
``helm test`` hook, uninstall. Each step says what failed.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
import requests
from PIL import Image

import kindsuite
from kindsuite import FULLNAME, NAMESPACE, RELEASE

PHOTOS = sorted(p for p in (Path(__file__).resolve().parents[1] / "data" / "photos").iterdir()
                if p.suffix in (".jpg", ".png"))
JOB_TIMEOUT = 300


def upload_photos_and_wait(kind, url: str) -> dict[str, dict]:
    """Every photo through POST /v1/jobs; {photo name: the finished job from GET /v1/jobs/{id}}."""
    ids = {}
    for photo in PHOTOS:
        r = requests.post(f"{url}/v1/jobs", files={"image": (photo.name, photo.read_bytes())}, timeout=60)
        assert r.status_code == 202, (photo.name, r.status_code, r.text)
        ids[photo.name] = r.json()["id"]
    done: dict[str, dict] = {}
    deadline = time.monotonic() + JOB_TIMEOUT
    while len(done) < len(ids) and time.monotonic() < deadline:
        for name, job_id in ids.items():
            if name not in done:
                body = requests.get(f"{url}/v1/jobs/{job_id}", timeout=30).json()
                if body["status"] != "processing":
                    done[name] = body
        time.sleep(2)
    assert len(done) == len(ids), (f"still processing after {JOB_TIMEOUT} s: {sorted(set(ids) - set(done))}\n"
                                   + kind.diagnostics())
    return done


def check_thumbnails(kind, url: str, jobs: dict[str, dict]) -> None:
    for photo in PHOTOS:
        job = jobs[photo.name]
        assert job["status"] == "succeeded", (job, kind.diagnostics())
        r = requests.get(f"{url}/v1/jobs/{job['id']}/thumbnail", timeout=30)
        assert r.status_code == 200, (photo.name, r.status_code, r.text)
        width, height, content_type = kindsuite.expected_thumbnail(photo)  # 100x100: the default fit is cover
        assert r.headers["Content-Type"] == content_type, photo.name
        with Image.open(io.BytesIO(r.content)) as img:
            img.load()  # decodes completely
            assert img.size == (width, height) == (100, 100), photo.name


def check_thumbnailjobs_listed(kind, jobs: dict[str, dict]) -> None:
    phases = kindsuite.thumbnailjob_phases(kind.kubectl("get", "thumbnailjobs", "-n", NAMESPACE, "-o", "json").stdout)
    assert {job["id"]: "Succeeded" for job in jobs.values()}.items() <= phases.items(), phases
    table = kind.kubectl("get", "thumbnailjobs", "-n", NAMESPACE).stdout  # the printer columns people read
    for job in jobs.values():
        line = next(line for line in table.splitlines() if line.startswith(job["id"] + " "))
        assert "Succeeded" in line, line


def run_helm_test_hook(kind) -> None:
    """``helm test`` on the installed release; its test hook must be there.

    The release's own hooks (``helm get hooks``), not ``helm template``: that
    renders for Kubernetes v1.20 unless told otherwise, below the chart's kubeVersion.
    """
    assert kindsuite.has_test_hook(kind.helm("get", "hooks", RELEASE, "--namespace", NAMESPACE).stdout), \
        "the release has no `helm test` hook (helm/thumbnailer/templates/tests/)"
    kind.helm("test", RELEASE, "--namespace", NAMESPACE, "--timeout", "5m", timeout=400)


def uninstall(kind) -> None:
    # While the operator still runs, so its finalizers are released (and the objects removed).
    kind.kubectl("delete", "thumbnailjobs", "--all", "-n", NAMESPACE, "--timeout=180s", timeout=200)
    kind.helm("uninstall", RELEASE, "--namespace", NAMESPACE, "--wait", "--timeout", "5m", timeout=400)
    assert kind.kubectl("get", "deployments", "-n", NAMESPACE, "-o", "name").stdout.strip() == ""
    assert f"{FULLNAME}-" not in kind.kubectl("get", "pods", "-n", NAMESPACE, "-o", "name").stdout


@pytest.mark.kind
@pytest.mark.timeout(2400)  # includes the fixtures: cluster, `make images`, image loads, helm install --wait
def test_photos_become_thumbnails_on_kind_and_the_release_uninstalls(kind, default_release, uploader_url):
    assert len(PHOTOS) >= 6
    jobs = upload_photos_and_wait(kind, uploader_url)
    check_thumbnails(kind, uploader_url, jobs)
    check_thumbnailjobs_listed(kind, jobs)
    run_helm_test_hook(kind)
    uninstall(kind)
