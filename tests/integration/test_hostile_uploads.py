"""Hostile uploads through the uploader, the operator and a resizer pod (tests/hostile.py):
each ends with its reason within seconds, and what is known at upload is refused there."""

from __future__ import annotations

import json
import time

import pytest
import requests

import hostile
from thumbnailer import api

pytestmark = pytest.mark.integration


def sources_in(cluster, namespace: str) -> list[str]:
    return [o.object_name for o in cluster.s3.client().list_objects(cluster.s3.bucket, f"uploads/{namespace}/",
                                                                     recursive=True)]


def post(uploader, data: bytes, **params) -> requests.Response:
    return requests.post(f"{uploader.url}/v1/jobs", data=data, params=params, timeout=30,
                         headers={"Content-Type": "application/octet-stream"})


def test_an_output_over_the_budget_is_a_422_before_anything_is_stored(cluster, uploader):
    animation = hostile.gif_many_frames(200)  # 10 KB; 200 frames of 4096x4096 would be 13 GB as RGBA
    refused = post(uploader, animation, width=4096, height=4096)
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["reason"] == "OutputTooLarge" and "MAX_OUTPUT_PIXELS" in problem["detail"]
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert sources_in(cluster, uploader.namespace) == []
    assert json.loads(cluster.kubectl("get", "-n", uploader.namespace, api.PLURAL, "-o", "json").stdout)["items"] == []
    # The same animation as a JPEG is one frame: inside the budget.
    assert post(uploader, animation, width=4096, height=4096, format="jpeg").status_code == 202


@pytest.mark.parametrize("name, reason", [
    ("jpeg-scan-flood", "TooComplex"),
    ("gif-frame-outside-screen", "ImageTooLarge"),
    ("gif-frame-past-bomb-limit", "ImageTooLarge"),
    ("apng-invalid-frame", "CorruptImage"),
    ("tiff-page-chain", None),
    ("exif-orientation-text", None),
    ("jpeg-cut-with-eoi", "TruncatedImage"),
])
def test_hostile_files_end_with_their_reason_through_a_resizer_pod(cluster, uploader, name, reason):
    started = time.monotonic()
    answer = post(uploader, hostile.CORPUS[name][0]())
    if answer.status_code != 202:  # refused at upload: the same reason, sooner
        assert answer.json()["reason"] == reason, answer.text
        return
    job = uploader.wait_done(answer.json()["id"], timeout=60)
    assert time.monotonic() - started < 60  # far under the Job's deadline (300 s)
    if reason is None:
        assert job["status"] == "succeeded", job
    else:
        assert (job["status"], job["reason"]) == ("failed", reason), job
        assert "InternalError" not in job["message"]
