"""The resizer program's contract with its Job: exit codes and termination messages,
against the real S3 server."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageSequence

from devcluster.processes import free_port

pytestmark = pytest.mark.integration
DATA = Path(__file__).resolve().parents[1] / "data"


def run_resizer(cluster, tmp_path: Path, **env: str) -> tuple[int, str]:
    """Run ``python -m resizer``; returns (exit code, termination message)."""
    message = tmp_path / "termination-log"
    full_env = {"PATH": os.environ["PATH"], "S3_ENDPOINT": cluster.s3.endpoint,
                "S3_ACCESS_KEY": cluster.s3.access_key, "S3_SECRET_KEY": cluster.s3.secret_key,
                "SOURCE_BUCKET": cluster.s3.bucket, "OUTPUT_KEY": f"thumbnails/program/{tmp_path.name}",
                "TERMINATION_MESSAGE_PATH": str(message), **env}
    proc = subprocess.run([sys.executable, "-m", "resizer"], env=full_env, capture_output=True, text=True,
                          timeout=60)
    return proc.returncode, message.read_text() if message.exists() else ""


def put(cluster, key: str, data: bytes) -> None:
    cluster.s3.client().put_object(cluster.s3.bucket, key, io.BytesIO(data), len(data))


def test_success_exits_0_and_reports_the_output_as_json(cluster, tmp_path):
    put(cluster, "program/photo.jpg", (DATA / "photos" / "grace_hopper.jpg").read_bytes())
    code, message = run_resizer(cluster, tmp_path, SOURCE_KEY="program/photo.jpg", THUMBNAIL_WIDTH="80",
                                THUMBNAIL_HEIGHT="60")
    assert code == 0, message
    result = json.loads(message)
    assert result["key"] == f"thumbnails/program/{tmp_path.name}.jpg" and (result["width"], result["height"]) == (80, 60)
    stored = cluster.s3.client().get_object(cluster.s3.bucket, result["key"]).read()
    assert len(stored) == result["bytes"] and Image.open(io.BytesIO(stored)).size == (80, 60)


@pytest.mark.parametrize("payload,env,reason", [
    ((DATA / "cases" / "c15_jpeg_truncated.jpg").read_bytes(), {}, "TruncatedImage"),
    (b"plain text", {}, "NotAnImage"),
    ((DATA / "cases" / "c17_bomb_png_ihdr.png").read_bytes(), {}, "ImageTooLarge"),
    ((DATA / "photos" / "coffee.png").read_bytes(), {"MAX_BYTES": "1000"}, "FileTooLarge"),
])
def test_a_bad_image_exits_65_with_a_short_reason(cluster, tmp_path, payload, env, reason):
    put(cluster, f"program/{reason}", payload)
    code, message = run_resizer(cluster, tmp_path, SOURCE_KEY=f"program/{reason}", **env)
    assert code == 65
    assert message.startswith(f"{reason}: ") and len(message) < 400 and "\n" not in message


def test_a_missing_source_is_permanent(cluster, tmp_path):
    code, message = run_resizer(cluster, tmp_path, SOURCE_KEY="program/never-uploaded.jpg")
    assert code == 65 and message.startswith("SourceNotFound: ") and "bucket" not in message
    # A missing bucket says so: "s3://b/k does not exist" alone sends people looking for the key.
    code, message = run_resizer(cluster, tmp_path, SOURCE_BUCKET="no-such-bucket", SOURCE_KEY="photo.jpg")
    assert code == 65 and message == ("SourceNotFound: s3://no-such-bucket/photo.jpg does not exist: "
                                      "there is no bucket 'no-such-bucket' in the store"), message


def test_an_unreachable_store_exits_75_so_the_job_retries(cluster, tmp_path):
    code, message = run_resizer(cluster, tmp_path, SOURCE_KEY="program/photo.jpg",
                                S3_ENDPOINT=f"127.0.0.1:{free_port()}")
    assert code == 75 and message.startswith("StoreUnavailable: ")


def test_a_key_the_store_refuses_is_permanent_not_an_outage(cluster, tmp_path):
    # A 351-byte key (342 ASCII letters and three 3-byte characters): valid for S3 clients and
    # under S3's 1024 bytes, answered 400 KeyTooLongError by this store (in the GET's error body;
    # a HEAD's 400 has no body and said only BadRequest). Retrying gets the same answer.
    code, message = run_resizer(cluster, tmp_path, SOURCE_KEY="a" * 342 + "€€€")
    assert code == 65 and message.startswith("InvalidSourceKey: the store refuses the key 'aaa"), message
    assert message.endswith("(KeyTooLongError)")
    assert "\n" not in message


def test_wrong_credentials_are_access_denied_not_an_outage(cluster, tmp_path):
    code, message = run_resizer(cluster, tmp_path, SOURCE_KEY="program/photo.jpg", S3_SECRET_KEY="not-the-key")
    assert code == 78 and message.startswith("StoreAccessDenied: reading s3://"), message


def test_unusable_settings_exit_78(cluster, tmp_path):
    code, message = run_resizer(cluster, tmp_path, SOURCE_KEY="program/photo.jpg", THUMBNAIL_FIT="stretch")
    assert code == 78 and message.startswith("InvalidConfiguration: ") and "THUMBNAIL_FIT" in message


def test_accept_truncated_renders_the_part_that_arrived(cluster, tmp_path):
    put(cluster, "program/truncated.jpg", (DATA / "cases" / "c15_jpeg_truncated.jpg").read_bytes())
    code, message = run_resizer(cluster, tmp_path, SOURCE_KEY="program/truncated.jpg", ACCEPT_TRUNCATED="true")
    assert code == 0, message


def test_a_dot_segment_key_is_refused_permanently_with_one_line(cluster, tmp_path):
    # The ThumbnailJob CRD refuses such keys; the resizer refuses them too, whoever set SOURCE_KEY.
    code, message = run_resizer(cluster, tmp_path, SOURCE_KEY="../../etc/passwd")
    assert code == 65
    assert message == ("InvalidSourceKey: '../../etc/passwd' is not a usable S3 object key: object name with "
                       "'.' or '..' path segment is not supported")


def test_an_unexpected_exception_exits_70_with_a_one_line_message(cluster, tmp_path):
    # A bug stand-in: make_thumbnail raises something no handler knows.
    put(cluster, "program/crash.png", (DATA / "photos" / "coffee.png").read_bytes())
    crash = ("import runpy, sys, resizer.thumbnail as t\n"
             "def boom(fp, spec):\n    raise KeyError('JPEG')\n"
             "t.make_thumbnail = boom\n"
             "runpy.run_module('resizer', run_name='__main__')\n")
    message_path = tmp_path / "termination-log"
    env = {"PATH": os.environ["PATH"], "S3_ENDPOINT": cluster.s3.endpoint, "S3_ACCESS_KEY": cluster.s3.access_key,
           "S3_SECRET_KEY": cluster.s3.secret_key, "SOURCE_BUCKET": cluster.s3.bucket,
           "SOURCE_KEY": "program/crash.png", "OUTPUT_KEY": f"thumbnails/program/{tmp_path.name}",
           "TERMINATION_MESSAGE_PATH": str(message_path)}
    proc = subprocess.run([sys.executable, "-c", crash], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 70
    assert message_path.read_text() == "InternalError: KeyError: 'JPEG'"
    assert "Traceback (most recent call last)" in proc.stderr  # for kubectl logs


def test_an_animation_over_the_frame_cap_reports_the_cut(cluster, tmp_path):
    """MAX_FRAMES from the environment caps the animation (the default, 200, is checked in test_main_job)."""
    frames = [Image.new("RGB", (16, 16), ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256)) for i in range(300)]
    data = io.BytesIO()
    frames[0].save(data, "GIF", save_all=True, append_images=frames[1:], duration=20, loop=0)
    put(cluster, "program/long.gif", data.getvalue())
    code, message = run_resizer(cluster, tmp_path, SOURCE_KEY="program/long.gif", MAX_FRAMES="120")
    assert code == 0, message
    result = json.loads(message)
    assert (result["contentType"], result["frames"], result["sourceFrames"]) == ("image/gif", 120, 300)
    # The GIF plays the first 120 source frames (20 ms each): Pillow's GIF writer stores a run of identical
    # frames (here, neighbours that share a palette colour) once with their durations summed.
    thumb = Image.open(io.BytesIO(cluster.s3.client().get_object(cluster.s3.bucket, result["key"]).read()))
    durations = [frame.info["duration"] for frame in ImageSequence.Iterator(thumb)]
    assert sum(durations) == 120 * 20 and len(durations) <= 120
