"""Stopping a cluster leaves no process and no listening port behind."""

import os

import pytest

from devcluster.processes import port_is_listening
from devcluster.stack import LocalCluster

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_stop_ends_every_process_and_frees_every_port(tmp_path, binaries):
    c = LocalCluster(tmp_path / "c", binaries).start()
    pids, ports = c.pids(), c.ports()
    assert len(pids) == 5 and all(_alive(p) for p in pids)
    assert all(port_is_listening(p) for p in ports)
    c.stop()
    assert [p for p in pids if _alive(p)] == []
    assert [p for p in ports if port_is_listening(p)] == []
