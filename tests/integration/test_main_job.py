"""The main job end to end: upload -> ThumbnailJob -> operator -> Job -> resizer -> thumbnail.

The uploader is a real gunicorn process, the operator a real Kopf process, the
resizer a real process run by the development node for the real Job controller.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import requests
from PIL import Image, ImageOps, ImageStat

from casecheck import browser_frames
from thumbnailer import api

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data"
PHOTOS = sorted(p for p in (DATA / "photos").iterdir() if p.suffix in (".jpg", ".png"))
#: Largest difference allowed between the mean colour (per channel, 0-255) of a
#: thumbnail and of a reference downscale made here with plain Pillow.
MEAN_COLOUR_TOLERANCE = 6.0


@pytest.mark.parametrize("photo", PHOTOS, ids=[p.name for p in PHOTOS])
def test_uploaded_photo_becomes_a_100x100_thumbnail_that_looks_like_it(uploader, photo):
    resp = uploader.post_image(photo)
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["status"] == "processing" and resp.headers["Location"] == f"/v1/jobs/{body['id']}"

    done = uploader.wait_done(body["id"])
    assert done["status"] == "succeeded", done
    assert done["thumbnail_url"] == f"/v1/jobs/{body['id']}/thumbnail"

    thumb = requests.get(uploader.url + done["thumbnail_url"], timeout=10)
    assert thumb.status_code == 200
    img = Image.open(io.BytesIO(thumb.content))
    img.load()
    assert img.size == (100, 100)
    assert thumb.headers["Content-Type"] == Image.MIME[img.format]
    # The reference: the source as a browser shows it (orientation, ICC -> sRGB, on white), downscaled.
    reference = ImageOps.fit(browser_frames(photo.read_bytes())[0], (100, 100), Image.Resampling.LANCZOS)
    got, want = ImageStat.Stat(browser_frames(thumb.content)[0]).mean, ImageStat.Stat(reference).mean
    assert max(abs(a - b) for a, b in zip(got, want, strict=True)) <= MEAN_COLOUR_TOLERANCE, (got, want)


def test_jobs_show_in_kubectl_with_printer_columns_and_kubectl_wait_works(cluster, uploader):
    job_id = uploader.post_image(DATA / "photos" / "coffee.png").json()["id"]
    cluster.kubectl("wait", "-n", uploader.namespace, "--for=condition=Complete", f"thumbnailjob/{job_id}",
                    "--timeout=90s")
    table = cluster.kubectl("get", "thumbnailjobs", "-n", uploader.namespace).stdout
    header, *rows = table.splitlines()
    assert header.split() == ["NAME", "PHASE", "SOURCE", "WIDTH", "HEIGHT", "REASON", "AGE"]
    row = next(r.split() for r in rows if r.startswith(job_id))
    assert row[1:3] == ["Succeeded", f"uploads/{uploader.namespace}/{job_id}.png"]
    assert row[3:6] == ["100", "100", "ThumbnailReady"]
    # the short name and the category work too
    assert job_id in cluster.kubectl("get", "tj", "-n", uploader.namespace, "-o", "name").stdout
    assert job_id in cluster.kubectl("get", "thumbnailer", "-n", uploader.namespace, "-o", "name").stdout


def test_status_follows_kubernetes_conventions(cluster, uploader):
    job_id = uploader.post_image(DATA / "photos" / "rocket.jpg").json()["id"]
    uploader.wait_done(job_id)
    tj = json.loads(cluster.kubectl("get", "-n", uploader.namespace, f"{api.PLURAL}/{job_id}", "-o",
                                    "json").stdout)
    status = tj["status"]
    assert status["phase"] == "Succeeded" and status["observedGeneration"] == tj["metadata"]["generation"]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Complete"]["status"] == "True" and conditions["Failed"]["status"] == "False"
    assert all(c["lastTransitionTime"].endswith("Z") and c["reason"] for c in conditions.values())
    assert status["output"] == {"bucket": cluster.s3.bucket, "key": f"thumbnails/{uploader.namespace}/{job_id}.jpg",
                                "width": 100, "height": 100, "contentType": "image/jpeg",
                                "bytes": status["output"]["bytes"], "frames": 1, "sourceFrames": 1}
    stored = cluster.s3.client().stat_object(cluster.s3.bucket, status["output"]["key"])
    assert stored.size == status["output"]["bytes"] and stored.content_type == "image/jpeg"
    assert status["jobName"] == f"{job_id}-g1" and status["startTime"] <= status["completionTime"]
    # The Job is owned by the ThumbnailJob, so deleting one garbage-collects the other.
    job = json.loads(cluster.kubectl("get", "job", "-n", uploader.namespace, status["jobName"], "-o",
                                     "json").stdout)
    owner = job["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        api.KIND, job_id, tj["metadata"]["uid"], True)


def test_corrupt_image_fails_with_a_reason_and_nothing_else_is_affected(cluster, uploader, operator):
    bad = uploader.post_image(DATA / "cases" / "c15_jpeg_truncated.jpg").json()["id"]
    good = uploader.post_image(DATA / "photos" / "chelsea.png").json()["id"]
    failed = uploader.wait_done(bad)
    assert failed["status"] == "failed"
    assert failed["reason"] == "TruncatedImage" and "truncated" in failed["message"]
    assert uploader.wait_done(good)["status"] == "succeeded"
    # The same through kubectl.
    cluster.kubectl("wait", "-n", uploader.namespace, "--for=condition=Failed", f"thumbnailjob/{bad}",
                    "--timeout=30s")
    reason = cluster.kubectl("get", "-n", uploader.namespace, f"thumbnailjob/{bad}", "-o",
                             "jsonpath={.status.reason}").stdout
    assert reason == "TruncatedImage"
    # A bad image is permanent: one pod, no retries.
    pods = cluster.kubectl("get", "pods", "-n", uploader.namespace, "-l", f"job-name={bad}-g1", "-o", "name")
    assert len(pods.stdout.split()) == 1
    problem = requests.get(f"{uploader.url}/v1/jobs/{bad}/thumbnail", timeout=10)
    assert problem.status_code == 409 and problem.headers["Content-Type"] == "application/problem+json"
    assert problem.json()["reason"] == "TruncatedImage"
    assert uploader.component.process.alive() and operator.process.alive()


def test_an_animation_over_the_frame_cap_is_cut_and_the_status_says_so(cluster, uploader, tmp_path):
    frames = [Image.new("RGB", (32, 32), ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256)) for i in range(300)]
    path = tmp_path / "long.gif"
    frames[0].save(path, "GIF", save_all=True, append_images=frames[1:], duration=20, loop=0)
    job_id = uploader.post_image(path).json()["id"]
    assert uploader.wait_done(job_id)["status"] == "succeeded"
    status = json.loads(cluster.kubectl("get", "-n", uploader.namespace, f"{api.PLURAL}/{job_id}", "-o",
                                        "json").stdout)["status"]
    out = status["output"]
    assert (out["contentType"], out["frames"], out["sourceFrames"]) == ("image/gif", 200, 300)
    assert status["message"] == (f"100x100 image/gif, {out['bytes']} bytes, frames: 200 of 300 "
                                 "(the animation is cut at the frame limit or the decode budget)")
    thumb = Image.open(io.BytesIO(cluster.s3.client().get_object(cluster.s3.bucket, out["key"]).read()))
    assert thumb.n_frames > 1  # still an animation


def test_gitops_manifest_for_an_object_already_in_the_bucket(cluster, uploader):
    s3 = cluster.s3.client()
    data = (DATA / "photos" / "astronaut.png").read_bytes()
    s3.put_object(cluster.s3.bucket, "brand/astronaut.png", io.BytesIO(data), len(data), content_type="image/png")
    manifest = json.dumps({"apiVersion": api.API_VERSION, "kind": api.KIND,
                           "metadata": {"name": "astronaut-avatar", "namespace": uploader.namespace},
                           "spec": {"source": {"key": "brand/astronaut.png"}, "size": {"width": 64, "height": 48}}})
    cluster.kubectl("apply", "-f", "-", input=manifest)
    cluster.kubectl("wait", "-n", uploader.namespace, "--for=condition=Complete",
                    "thumbnailjob/astronaut-avatar", "--timeout=90s")
    again = cluster.kubectl("apply", "-f", "-", input=manifest)
    assert "unchanged" in again.stdout
    jobs = cluster.kubectl("get", "jobs", "-n", uploader.namespace, "-l",
                           f"{api.GROUP}/thumbnailjob=astronaut-avatar", "-o", "name").stdout.split()
    assert jobs == ["job.batch/astronaut-avatar-g1"]
    view = uploader.job("astronaut-avatar")
    assert view["status"] == "succeeded" and view["size"] == {"width": 64, "height": 48}
    img = Image.open(io.BytesIO(requests.get(uploader.url + view["thumbnail_url"], timeout=10).content))
    assert img.size == (64, 48)


def test_unknown_job_is_a_404_problem(uploader):
    for path in ("/v1/jobs/tj-doesnotexist", "/v1/jobs/tj-doesnotexist/thumbnail", "/v1/jobs/..%2Fetc"):
        resp = requests.get(uploader.url + path, timeout=10)
        assert resp.status_code == 404, path
        assert resp.headers["Content-Type"] == "application/problem+json"
        assert resp.json()["status"] == 404 and resp.json()["title"]


def test_thumbnail_of_an_unfinished_job_is_a_409_until_it_succeeds(cluster, uploader_without_secret):
    # Without the S3 credentials Secret the resizer pod cannot start (CreateContainerConfigError).
    up = uploader_without_secret
    job_id = up.post_image(DATA / "photos" / "horse.png").json()["id"]
    resp = requests.get(f"{up.url}/v1/jobs/{job_id}/thumbnail", timeout=10)
    assert resp.status_code == 409 and resp.headers["Content-Type"] == "application/problem+json"
    assert up.job(job_id)["status"] == "processing"
    from devcluster.components import ensure_s3_secret

    ensure_s3_secret(cluster, up.namespace)  # the pod starts once its Secret exists
    assert up.wait_done(job_id)["status"] == "succeeded"
    thumb = requests.get(f"{up.url}/v1/jobs/{job_id}/thumbnail", timeout=10)
    assert thumb.status_code == 200 and thumb.headers["Content-Type"] == "image/png"


def test_list_shows_every_job_newest_first(uploader):
    ids = [uploader.post_image(DATA / "photos" / "grace_hopper.jpg").json()["id"] for _ in range(2)]
    items = requests.get(f"{uploader.url}/v1/jobs", timeout=10).json()["items"]
    listed = [i["id"] for i in items]
    assert set(ids) <= set(listed)
    # Uploaded jobs come newest first (GitOps-named ThumbnailJobs sit among them in name order).
    created = [i["created_at"] for i in items if i["id"].startswith("tj-")]
    assert created == sorted(created, reverse=True)
    assert listed.index(ids[1]) < listed.index(ids[0])
    assert all(set(i) >= {"id", "status", "reason", "message", "created_at", "completed_at", "thumbnail_url"}
               for i in items)


def test_a_job_whose_spec_was_just_edited_is_processing_at_once(cluster, uploader):
    """Until the operator has observed the new generation, the old Succeeded says nothing about it."""
    job_id = uploader.post_image(DATA / "photos" / "coffee.png").json()["id"]
    assert uploader.wait_done(job_id)["status"] == "succeeded"
    cluster.kubectl("patch", "-n", uploader.namespace, f"{api.PLURAL}/{job_id}", "--type=merge",
                    "-p", json.dumps({"spec": {"size": {"width": 40, "height": 40}}}))
    view = uploader.job(job_id)  # at once: metadata.generation 2, status.observedGeneration still 1 or just 2
    assert view["status"] == "processing" and view["completed_at"] is None and view["thumbnail_url"] is None
    done = uploader.wait_done(job_id)
    assert done["status"] == "succeeded" and done["thumbnail"]["width"] == 40
