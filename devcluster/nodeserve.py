"""``make up NODE=real``: the chart on a real node, in the foreground until SIGTERM (``serve --node real``).

It builds the images (hack/images.sh), starts :class:`~devcluster.nodestack.NodeCluster`,
installs the chart with ``helm install`` (:meth:`NodeCluster.install`) and forwards
127.0.0.1:<port> to the uploader's Service with ``kubectl port-forward``, started again
whenever it exits (a forwarded pod that goes away ends it). ``stack.json`` says where
everything is, in the same keys as the development stack's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from .binaries import REPO_ROOT, Binaries
from .nodestack import NodeCluster
from .processes import ManagedProcess, port_is_listening, stop_requested

IMAGES_SH = REPO_ROOT / "hack" / "images.sh"


def build_images() -> tuple[list[str], str]:
    """``hack/images.sh`` (prints ``tag size`` lines), then its base; raises ``RuntimeError``."""
    proc = subprocess.run(["bash", str(IMAGES_SH)], stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{IMAGES_SH} failed (exit {proc.returncode})")
    tags = [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]
    base = subprocess.run(["bash", str(IMAGES_SH), "--base-only"], stdout=subprocess.PIPE, text=True,
                          check=True).stdout.split()[-1]
    return tags, base


def _port_forward(cluster: NodeCluster, namespace: str, service: str, port: int, log: Path) -> ManagedProcess:
    proc = ManagedProcess("port-forward", [
        str(cluster.binaries.kubectl), f"--kubeconfig={cluster.kubeconfig}", "-n", namespace, "port-forward",
        "--address", "127.0.0.1", f"service/{service}", f"{port}:80"], log)
    proc.wait_until(lambda: port_is_listening(port), 30, f"listening on 127.0.0.1:{port}")
    return proc


def serve(state: Path, uploader_port: int, write_stack: Callable[[dict], None]) -> int:
    """Run the real-node stack until SIGTERM/SIGINT; ``write_stack`` gets ``stack.json``'s content."""
    stop = stop_requested()
    if port_is_listening(uploader_port):
        print(f"port {uploader_port} is already in use; stop whatever listens there (or `make down`)",
              file=sys.stderr)
        return 1
    tags, base = build_images()
    cluster = NodeCluster(state / "cluster", Binaries.provision())
    forward = None
    restarts = 0
    try:
        cluster.start(tags, base)
        inst = cluster.install()
        service = f"{inst.release}-thumbnailer"
        forward = _port_forward(cluster, inst.namespace, service, uploader_port, state / "logs" / "port-forward.log")

        def info() -> dict:
            cp = cluster.control_plane
            return {
                "pid": os.getpid(), "node": "real",
                "kubeconfig": str(state / "kubeconfig"), "api_server": cp.server,
                "namespace": inst.namespace, "release": inst.release,
                "s3_endpoint": inst.s3_endpoint, "s3_access_key": inst.access_key, "s3_secret_key": inst.secret_key,
                "bucket": "thumbnails", "uploader": f"http://127.0.0.1:{uploader_port}",
                "uploader_service": inst.uploader,
                "components": {p.name: {"pid": p.pid, "url": None, "restarts": 0}
                               for p in [*cp.processes, *cluster.node.processes]}
                              | {"port-forward": {"pid": forward.pid, "url": f"http://127.0.0.1:{uploader_port}",
                                                  "restarts": restarts}},
                "pids": [p.pid for p in [*cp.processes, *cluster.node.processes, forward]],
                "ports": [*cp.ports, uploader_port],
            }

        shutil.copy(cluster.kubeconfig, state / "kubeconfig")  # where the development stack keeps it
        write_stack(info())
        while not stop.is_set():
            if not forward.alive():
                forward.stop()
                time.sleep(1)
                try:
                    forward = _port_forward(cluster, inst.namespace, service, uploader_port,
                                            state / "logs" / "port-forward.log")
                    restarts += 1
                    write_stack(info())
                except Exception as e:  # noqa: BLE001 - keep serving; the next round tries again
                    print(f"port-forward did not start again: {e}", file=sys.stderr, flush=True)
            time.sleep(1)
    finally:
        if forward is not None:
            forward.stop()
        cluster.stop()
    return 0

