"""Where the pinned server binaries are, building them on first use.

The versions live in ``hack/versions.env``; ``hack/provision.sh`` builds them
from the Go module proxy into a cache outside the clone and prints their
directories. This module only runs that script and resolves the paths.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PROVISION_SCRIPT = REPO_ROOT / "hack" / "provision.sh"


class ProvisionError(RuntimeError):
    """The binaries could not be built or found."""


@dataclass(frozen=True)
class Binaries:
    """Absolute paths of every server and CLI the harness runs."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kubectl: Path
    versitygw: Path
    helm: Path
    #: The real node's kubelet, kube-proxy and scheduler (built with the control plane).
    kubelet: Path
    kube_proxy: Path
    kube_scheduler: Path
    #: ``docker compose`` v2 as a standalone binary (``docker-compose``), for ``config``.
    compose: Path
    #: The real node's cluster DNS server and CRI client.
    coredns: Path
    crictl: Path

    @property
    def path_dirs(self) -> list[str]:
        """Directories to put on ``PATH`` so ``kubectl`` and ``helm`` resolve."""
        return sorted({str(p.parent) for p in vars(self).values()})

    @classmethod
    def provision(cls, *, quiet: bool = False) -> "Binaries":
        """Build what is missing (progress to stderr) and return the paths.

        Raises :class:`ProvisionError` if the script fails or a binary is absent.
        A warm cache makes this a sub-second call.
        """
        if shutil.which("go") is None and _cached_dirs() is None:
            raise ProvisionError("Go is needed to build the local control plane; install Go 1.26+")
        proc = subprocess.run(
            ["bash", str(PROVISION_SCRIPT)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL if quiet else sys.stderr,
            text=True,
        )
        if proc.returncode != 0:
            raise ProvisionError(f"{PROVISION_SCRIPT} failed with exit code {proc.returncode}")
        return cls._from_dirs(proc.stdout.strip().splitlines()[-1].split(":"))

    @classmethod
    def _from_dirs(cls, dirs: list[str]) -> "Binaries":
        def find(name: str) -> Path:
            for d in dirs:
                p = Path(d) / name
                if p.is_file():
                    return p
            raise ProvisionError(f"{name} not found in {dirs}")

        return cls(
            etcd=find("etcd"),
            kube_apiserver=find("kube-apiserver"),
            kube_controller_manager=find("kube-controller-manager"),
            kubectl=find("kubectl"),
            versitygw=find("versitygw"),
            helm=find("helm"),
            kubelet=find("kubelet"),
            kube_proxy=find("kube-proxy"),
            kube_scheduler=find("kube-scheduler"),
            compose=find("docker-compose"),
            coredns=find("coredns"),
            crictl=find("crictl"),
        )


def _cached_dirs() -> list[str] | None:
    proc = subprocess.run(
        ["bash", str(PROVISION_SCRIPT), "--print"], capture_output=True, text=True
    )
    return proc.stdout.strip().split(":") if proc.returncode == 0 else None
