"""The images the real node needs besides the project's own, made here with Docker.

Nothing can be pulled, so each is one pinned binary on a local base:

* ``pause``: Debian's statically linked ``catatonit -P`` (a pause process that
  also reaps zombies), on an empty base; the pod sandbox image.
* ``coredns``: the CoreDNS that hack/provision.sh builds (static), on an empty base.
* ``versitygw``: the S3 server the test harness already runs (hack/provision.sh),
  on the Debian base that ``make images`` made (it links against glibc). It is the
  real node's S3 store: MinIO's image cannot be pulled here, and versitygw is the
  S3 server every other tier of the tests already talks to.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from .binaries import Binaries

PREFIX = "thumbnailer.local"
CATATONIT = Path("/usr/bin/catatonit")


def _version(path: Path) -> str:
    """The ``-<version>`` suffix of the cache directory a pinned binary sits in."""
    return path.parent.name.rsplit("-", 1)[-1]


def tags(binaries: Binaries) -> dict[str, str]:
    """``{"pause": tag, "coredns": tag, "versitygw": tag}`` for this set of binaries."""
    return {"pause": f"{PREFIX}/pause:1",
            "coredns": f"{PREFIX}/coredns:{_version(binaries.coredns)}",
            "versitygw": f"{PREFIX}/versitygw:{_version(binaries.versitygw)}"}


def _build(tag: str, dockerfile: str, files: dict[str, Path]) -> None:
    with tempfile.TemporaryDirectory() as ctx:
        for name, src in files.items():
            shutil.copy2(src, Path(ctx) / name)
        (Path(ctx) / "Dockerfile").write_text(dockerfile)
        proc = subprocess.run(["docker", "build", "--quiet", "-t", tag, ctx], capture_output=True, text=True,
                              env={"DOCKER_BUILDKIT": "0", "PATH": "/usr/local/bin:/usr/bin:/bin"}, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"docker build {tag} failed:\n{proc.stderr[-3000:]}")


def build(binaries: Binaries, debian_base: str) -> dict[str, str]:
    """Build the three images where Docker lacks them; returns :func:`tags`.

    ``debian_base`` is an image with glibc (``hack/images.sh --base-only`` prints it).
    Raises ``RuntimeError`` when a build fails.
    """
    wanted = tags(binaries)

    def have(tag: str) -> bool:
        return subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0

    if not have(wanted["pause"]):
        _build(wanted["pause"], 'FROM scratch\nCOPY catatonit /pause\nUSER 65535:65535\nENTRYPOINT ["/pause", "-P"]\n',
               {"catatonit": CATATONIT})
    if not have(wanted["coredns"]):
        _build(wanted["coredns"], 'FROM scratch\nCOPY coredns /coredns\nUSER 65532:65532\nEXPOSE 53 53/udp\n'
                                  'ENTRYPOINT ["/coredns"]\n', {"coredns": binaries.coredns})
    if not have(wanted["versitygw"]):
        _build(wanted["versitygw"], f'FROM {debian_base}\nCOPY versitygw /usr/local/bin/versitygw\n'
                                    'USER 10001:10001\nENTRYPOINT ["/usr/local/bin/versitygw"]\n',
               {"versitygw": binaries.versitygw})
    return wanted
