"""The project's images, built for real with Docker (hack/images.sh), and a way to run them.

Nothing here skips: where no Docker engine can be had, :func:`build` raises
(``make test`` and CI install and start one through hack/docker-engine.sh).
"""

from __future__ import annotations

import json
import subprocess
import uuid
from dataclasses import dataclass

from devcluster.binaries import REPO_ROOT

IMAGES_SH = REPO_ROOT / "hack" / "images.sh"


class ImageBuildError(RuntimeError):
    """hack/images.sh failed; the message carries the end of its output."""


@dataclass(frozen=True)
class Built:
    """Tags and sizes (bytes) that one run of hack/images.sh printed."""

    builder: str
    sizes: dict[str, int]

    @property
    def operator(self) -> str:
        return next(t for t in self.sizes if t.startswith("thumbnailer:"))

    @property
    def resizer(self) -> str:
        return next(t for t in self.sizes if t.startswith("thumbnailer-resizer:"))


def build(builder: str = "auto", version: str | None = None, timeout: float = 1200) -> Built:
    """Run ``hack/images.sh --builder <builder> [--version V]``; raises :class:`ImageBuildError`."""
    cmd = ["bash", str(IMAGES_SH), "--builder", builder, *(["--version", version] if version else [])]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise ImageBuildError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-6000:]}")
    sizes = {tag: int(size) for tag, size in (line.split() for line in proc.stdout.splitlines() if line.strip())}
    used = next((line.split("builder: ", 1)[1] for line in proc.stderr.splitlines() if "] builder: " in line), "")
    return Built(used, sizes)


def base() -> str:
    """The base ``hack/images.sh`` builds on (``--base-only``): an image with glibc and Python."""
    proc = subprocess.run(["bash", str(IMAGES_SH), "--base-only"], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise ImageBuildError(f"hack/images.sh --base-only exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    return proc.stdout.strip().splitlines()[-1]


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``docker <args>`` (text mode); raises ``CalledProcessError`` if ``check`` and it fails."""
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=timeout)


def inspect(tag: str) -> dict:
    """``docker image inspect`` of one image."""
    return json.loads(docker("image", "inspect", tag).stdout)[0]


class Container:
    """A detached container on the host's network, removed by :meth:`remove`."""

    def __init__(self, image: str, *args: str, env: dict[str, str] | None = None, options: tuple[str, ...] = ()):
        self.name = f"thumbnailer-test-{uuid.uuid4().hex[:8]}"
        env_args = [a for k, v in (env or {}).items() for a in ("--env", f"{k}={v}")]
        docker("run", "--detach", "--name", self.name, "--network", "host", *options, *env_args, image, *args)

    def logs(self) -> str:
        out = docker("logs", self.name, check=False)
        return out.stdout + out.stderr

    def state(self) -> dict:
        return json.loads(docker("inspect", "--format", "{{json .State}}", self.name).stdout)

    def exec(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        return docker("exec", self.name, *cmd, check=False)

    def remove(self) -> None:
        docker("rm", "--force", self.name, check=False)
