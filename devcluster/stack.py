"""The whole local stack: control plane, S3 server and development node.

Used by the pytest fixtures (``tests/conftest.py``) and by ``make up``
(``python -m devcluster up``). Everything listens on 127.0.0.1 only, on ports
picked free at start, and :meth:`LocalCluster.stop` ends every process it
started.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .binaries import Binaries
from .controlplane import ControlPlane, write_kubeconfig
from .processes import ManagedProcess, StartupError
from .s3server import S3Server

DEVNODE_NAME = "devnode"


@dataclass
class LocalCluster:
    """A running local cluster rooted at ``state_dir``.

    ``kubeconfig`` (admin, ``system:masters``) and ``s3`` (endpoint,
    credentials, bucket) are valid after :meth:`start`.
    """

    state_dir: Path
    binaries: Binaries
    control_plane: ControlPlane = field(init=False)
    s3: S3Server = field(init=False)
    devnode: ManagedProcess | None = None

    def __post_init__(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.control_plane = ControlPlane(self.state_dir / "controlplane", self.binaries)
        self.s3 = S3Server(self.state_dir / "s3", self.binaries)

    @property
    def kubeconfig(self) -> Path:
        assert self.control_plane.admin_kubeconfig is not None, "cluster not started"
        return self.control_plane.admin_kubeconfig

    def start(self) -> "LocalCluster":
        """Start everything and wait for readiness; on failure stop what started and raise
        :class:`~devcluster.processes.StartupError`."""
        try:
            self.control_plane.start()
            self.s3.start()
            self.devnode = ManagedProcess("devnode", [
                sys.executable, "-m", "devcluster.devnode", "--kubeconfig", str(self.kubeconfig),
                "--state-dir", str(self.state_dir / "devnode"), "--node-name", DEVNODE_NAME,
            ], self.state_dir / "logs" / "devnode.log", cwd=self.state_dir)
            self.devnode.wait_until(self._node_registered, 60, "registering its Node")
        except BaseException:
            self.stop()
            raise
        return self

    def _node_registered(self) -> bool:
        out = self.kubectl("get", "node", DEVNODE_NAME, "-o", "name", check=False)
        return out.returncode == 0

    def component_env(self) -> dict[str, str]:
        """Environment for a project component (operator, uploader, resizer)
        that talks to this cluster and this S3 server."""
        return {
            "KUBECONFIG": str(self.kubeconfig),
            "S3_ENDPOINT": self.s3.endpoint,
            "S3_ACCESS_KEY": self.s3.access_key,
            "S3_SECRET_KEY": self.s3.secret_key,
            "S3_SECURE": "false",
            "S3_BUCKET": self.s3.bucket,
        }

    def kubectl(self, *args: str, check: bool = True, input: str | None = None, timeout: float = 120,
                kubeconfig: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run the pinned ``kubectl`` against this cluster (as admin, or as whoever
        ``kubeconfig`` names); returns the completed process (text mode).
        Raises ``CalledProcessError`` if ``check`` and it fails."""
        return subprocess.run(
            [str(self.binaries.kubectl), f"--kubeconfig={kubeconfig or self.kubeconfig}", *args],
            capture_output=True, text=True, check=check, input=input, timeout=timeout,
            env={**os.environ, "PATH": os.pathsep.join([*self.binaries.path_dirs, os.environ.get("PATH", "")])},
        )

    def pids(self) -> list[int]:
        """PIDs of every server process this cluster started (for leak checks)."""
        procs = [*self.control_plane.processes, self.s3.process, self.devnode]
        return [p.pid for p in procs if p is not None]

    def token_kubeconfig(self, path: Path, token: str) -> Path:
        """Write a kubeconfig at ``path`` that authenticates with a bearer ``token``."""
        assert self.control_plane.ca is not None, "cluster not started"
        return write_kubeconfig(path, self.control_plane.server, self.control_plane.ca.pair.cert, token=token,
                                user="token")

    def ports(self) -> list[int]:
        """Every TCP port the cluster's servers listen on (for leak checks)."""
        return [*self.control_plane.ports, self.s3.port]

    def stop(self) -> None:
        """Stop the development node first (it kills its pods), then S3 and the control plane."""
        if self.devnode is not None:
            self.devnode.stop(grace=30)
            self.devnode = None
        self.s3.stop()
        self.control_plane.stop()


__all__ = ["LocalCluster", "StartupError", "DEVNODE_NAME"]
