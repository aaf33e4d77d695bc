"""`make up` (``python -m devcluster up``) as a user runs it: a stack that takes uploads, starts a dead
operator again like a kubelet would, and leaves nothing behind after ``down``.

It runs a second stack of its own (``DEVCLUSTER_STATE``, a free uploader port) beside the session's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from devcluster.binaries import REPO_ROOT
from devcluster.processes import free_port, port_is_listening
from waiting import wait_for

pytestmark = pytest.mark.integration
PHOTO = Path(__file__).resolve().parents[1] / "data" / "photos" / "grace_hopper.jpg"


def test_make_up_takes_uploads_restarts_a_dead_operator_and_make_down_leaves_nothing(binaries, tmp_path):
    env = {**os.environ, "DEVCLUSTER_STATE": str(tmp_path / "state"), "DEVCLUSTER_UPLOADER_PORT": str(free_port())}

    def devcluster(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "devcluster", *args], env=env, cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=300)

    def status() -> dict:
        return json.loads(devcluster("status").stdout)

    def thumbnail_made(url: str) -> None:
        with open(PHOTO, "rb") as f:
            job = requests.post(f"{url}/v1/jobs", files={"image": f}, timeout=30).json()["id"]
        done = wait_for(lambda: (j := requests.get(f"{url}/v1/jobs/{job}", timeout=10).json())["status"]
                        != "processing" and j, what=f"job {job} to finish")
        assert done["status"] == "succeeded", done

    up = devcluster("up")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        first = status()
        url = first["uploader"]
        thumbnail_made(url)
        os.kill(first["components"]["operator"]["pid"], signal.SIGKILL)
        again = wait_for(lambda: (s := status())["components"]["operator"]["restarts"] == 1
                         and s["components"]["operator"]["running"] and s, timeout=120,
                         what="the operator to be started again")
        assert again["components"]["operator"]["pid"] != first["components"]["operator"]["pid"]
        thumbnail_made(url)  # the new operator does the work
    finally:
        down = devcluster("down")
    assert down.returncode == 0 and down.stdout.strip().endswith("down."), down.stdout + down.stderr
    assert not port_is_listening(int(env["DEVCLUSTER_UPLOADER_PORT"]))
    assert devcluster("status").returncode == 1  # "not running"
