"""`python -m devcluster` as a user types it: clear errors, no secret on the screen."""

import json
import os

import devcluster.__main__ as cli


def test_put_of_a_missing_file_says_so_without_a_traceback(tmp_path, capsys):
    assert cli.put(tmp_path / "brand" / "logo.png", "brand/logo.png") == 2
    assert capsys.readouterr().err.strip() == f"{tmp_path / 'brand' / 'logo.png'}: no such file"


def test_status_masks_the_s3_secret_key(monkeypatch, capsys):
    stack = {"pid": os.getpid(), "s3_access_key": "dev", "s3_secret_key": "very-secret-value", "bucket": "thumbnails"}
    monkeypatch.setattr(cli, "_read_stack", lambda: stack)
    assert cli.status() == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["s3_secret_key"] == "****" and shown["s3_access_key"] == "dev" and shown["bucket"] == "thumbnails"


def test_a_dead_process_not_yet_reaped_is_not_running():
    import subprocess
    import sys
    import time

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while open(f"/proc/{child.pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline, "the child did not exit"
        time.sleep(0.05)  # once it exits it is a zombie until we reap it
    assert not cli._alive(child.pid)
    child.wait()
    assert not cli._alive(child.pid) and cli._alive(os.getpid())
