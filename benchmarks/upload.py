"""Upload benchmark: a 50 MB image through the real uploader, with the worker's peak memory.

Starts a local cluster (API server, S3 server) and one uploader (gunicorn, one
worker) and POSTs, as a streamed raw body with a Content-Length:

* a small JPEG (the baseline: the worker's peak RSS after ordinary work);
* a 50 MB PNG (4096x4096 RGB noise, stored uncompressed).

It prints the wall time of each upload and the worker's peak RSS (VmHWM) after
each. If the upload were held in memory whole, the peak would grow by about
50 MB; spooled to disk (past 1 MiB) and sent in 8 MiB parts, it grows by a few.

    python benchmarks/upload.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import requests
from PIL import Image

from devcluster.binaries import Binaries
from devcluster.components import install_crd, start_uploader
from devcluster.stack import LocalCluster

PHOTO = Path(__file__).resolve().parents[1] / "tests" / "data" / "photos" / "grace_hopper.jpg"


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker_pid(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return int(children[0])


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        big = tmp_path / "big.png"
        noise = Image.frombytes("RGB", (4096, 4096), os.urandom(4096 * 4096 * 3))
        noise.save(big, "PNG", compress_level=0)
        cluster = LocalCluster(tmp_path / "cluster", Binaries.provision(quiet=True)).start()
        try:
            install_crd(cluster)
            up = start_uploader(cluster, tmp_path / "uploader", namespace="default")
            try:
                worker = worker_pid(up.process.pid)
                print(f"{'upload':28} {'bytes':>11} {'status':>6} {'seconds':>8} {'worker peak RSS MiB':>20}")
                print(f"{'(idle worker)':28} {'':>11} {'':>6} {'':>8} {peak_rss_mib(worker):20.1f}")
                for name, path in (("grace_hopper.jpg", PHOTO), ("big.png (4096x4096 noise)", big)):
                    size = path.stat().st_size
                    t0 = time.perf_counter()
                    with open(path, "rb") as f:
                        resp = requests.post(f"{up.url}/v1/jobs", data=f, timeout=300,
                                             headers={"Content-Type": "application/octet-stream",
                                                      "Content-Length": str(size)})
                    elapsed = time.perf_counter() - t0
                    print(f"{name:28} {size:11d} {resp.status_code:6d} {elapsed:8.2f} {peak_rss_mib(worker):20.1f}")
            finally:
                up.process.stop()
        finally:
            cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
