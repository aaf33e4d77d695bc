"""The kind cluster for tests/e2e, with the chart installed from locally built images.

Uses pytest-kind's :class:`KindCluster` directly rather than its ``kind_cluster``
fixture, so that nothing is downloaded: kind is ``--kind-bin`` or the one on
PATH, kubectl and helm are the pinned builds (hack/provision.sh, found through
devcluster.binaries). pytest-kind's own options still apply: ``--cluster-name``,
``--keep-cluster`` (keep the cluster and, after a failure, the release),
``--kind-image``.

Two releases share the cluster, each in its own namespace:
- ``release`` (session): installed exactly as on the real node
  (:func:`devcluster.chartinstall.install`: Pod Security "restricted", versitygw as
  its S3 pod) for the shared scenarios of tests/chartscenarios.py;
- the chart with its defaults (bundled MinIO, pulled by kind), as the kind install
  of docs/installing.md does, for tests/e2e/test_kind.py.

Where no Docker engine answers or no kind is found, the suite is skipped with one
sentence saying which (``make e2e`` refuses to report that as a pass).
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from pytest_kind import KindCluster

import images
import kindsuite
from chartscenarios import RELEASE, Release
from devcluster import addons, chartinstall, nodeimages
from devcluster.binaries import Binaries, ProvisionError
from kindsuite import CHART, FULLNAME, NAMESPACE, REPO

VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
#: The namespace of the scenarios' release (restricted Pod Security, versitygw).
SCENARIOS_NAMESPACE = "scenarios"


def run(*cmd: str | Path, env: dict | None = None, timeout: float = 900, check: bool = True,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure (``check``), fail the test with its output, not a bare CalledProcessError."""
    proc = subprocess.run([str(c) for c in cmd], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, input=input)
    if check and proc.returncode != 0:
        pytest.fail(f"`{' '.join(map(str, cmd))}` exited {proc.returncode}\n"
                    f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}", pytrace=False)
    return proc


@dataclass
class Kind:
    """The kind cluster, with the calls :class:`chartscenarios.Cluster` and chartinstall need."""

    cluster: KindCluster
    binaries: Binaries

    @property
    def env(self) -> dict[str, str]:
        return {"KUBECONFIG": str(self.cluster.kubeconfig_path)}

    def kubectl(self, *args: str, check: bool = True, input: str | None = None,
                timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return run(self.binaries.kubectl, *args, env=self.env, check=check, timeout=timeout, input=input)

    def helm(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return run(self.binaries.helm, *args, env=self.env, check=check, timeout=timeout)

    def load_images(self, refs: list[str]) -> None:
        for ref in refs:
            self.cluster.load_docker_image(ref)

    def diagnostics(self, namespace: str = NAMESPACE) -> str:
        """What to look at when something did not happen in time."""
        parts = [self.kubectl("get", "all,thumbnailjobs,events", "-n", namespace, "-o", "wide", check=False).stdout]
        for component in ("operator", "uploader"):
            parts.append(self.kubectl("logs", "-n", namespace, f"deployment/{FULLNAME}-{component}",
                                      "--tail=40", check=False).stdout)
        return "\n".join(parts)


class Forward:
    """``kubectl port-forward service/<service> <local>:<port>``, started again whenever it ends
    (a forward follows one pod, and a rolling upgrade replaces that pod); ``url`` stays the same."""

    def __init__(self, kind: Kind, namespace: str, service: str, port: int):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.local = s.getsockname()[1]
        self.address = f"127.0.0.1:{self.local}"
        self.url = f"http://{self.address}"
        self._cmd = [str(kind.binaries.kubectl), f"--kubeconfig={kind.cluster.kubeconfig_path}", "-n", namespace,
                     "port-forward", f"service/{service}", f"{self.local}:{port}"]
        self._stop = threading.Event()
        self._proc: subprocess.Popen | None = None
        self._thread = threading.Thread(target=self._keep, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.local), timeout=2).close()
                return
            except OSError:
                time.sleep(0.5)
        pytest.fail(f"`{' '.join(self._cmd)}` did not start", pytrace=False)

    def _keep(self) -> None:
        while not self._stop.is_set():
            self._proc = subprocess.Popen(self._cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self._proc.wait()
            self._stop.wait(0.5)

    def close(self) -> None:
        self._stop.set()
        if self._proc:
            self._proc.terminate()
        self._thread.join(10)


@pytest.fixture(scope="session")
def kind(request) -> Kind:
    """A kind cluster with the project's images and versitygw's loaded (built with `make images`)."""
    opt = request.config.getoption
    why_not = kindsuite.skip_reason(opt("kind_bin"))
    if why_not:
        pytest.skip(why_not)
    try:
        binaries = Binaries.provision(quiet=True)
    except ProvisionError as e:
        pytest.fail(f"the pinned kubectl and helm are needed: {e}", pytrace=False)
    cluster = KindCluster(
        opt("cluster_name"),
        Path(opt("kubeconfig")) if opt("kubeconfig") else None,
        image=opt("kind_image"),
        kind_path=kindsuite.kind_binary(opt("kind_bin")),
        kubectl_path=binaries.kubectl,
    )
    cluster.create()  # re-uses a cluster of that name if one exists (e.g. after --keep-cluster)
    try:
        run("make", "--no-print-directory", "images", timeout=1800)
        k = Kind(cluster, binaries)
        k.load_images([*kindsuite.image_refs(VALUES), nodeimages.build(binaries, images.base())["versitygw"]])
        yield k
    finally:
        if not opt("keep_cluster"):
            cluster.delete()


@pytest.fixture(scope="session")
def release(kind: Kind) -> Release:
    """The chart installed as on the real node, reached through port-forwards (uploader and S3)."""
    try:
        done = chartinstall.install(kind, nodeimages.tags(kind.binaries)["versitygw"], SCENARIOS_NAMESPACE, RELEASE)
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    uploader = Forward(kind, SCENARIOS_NAMESPACE, f"{RELEASE}-thumbnailer", VALUES["uploader"]["service"]["port"])
    s3 = Forward(kind, SCENARIOS_NAMESPACE, "s3", addons.S3_PORT)
    yield Release(kind, SCENARIOS_NAMESPACE, uploader.url, s3.address, done.access_key, done.secret_key, done.values)
    uploader.close()
    s3.close()


@pytest.fixture(scope="module")
def default_release(kind: Kind, request) -> str:
    """The chart installed with its defaults (bundled MinIO), as the kind install of docs/installing.md does.

    ``upgrade --install`` so a cluster kept from an earlier run is fine too.
    """
    kind.helm("upgrade", "--install", kindsuite.RELEASE, str(CHART), "--namespace", NAMESPACE, "--create-namespace",
              "--wait", "--timeout", "10m", timeout=900)
    yield kindsuite.RELEASE
    installed = kind.helm("status", kindsuite.RELEASE, "-n", NAMESPACE, check=False).returncode == 0
    if installed and not request.config.getoption("keep_cluster"):
        kind.helm("uninstall", kindsuite.RELEASE, "-n", NAMESPACE, "--wait", "--timeout", "5m", check=False)


@pytest.fixture(scope="module")
def uploader_url(kind: Kind, default_release: str) -> str:
    """The default release's uploader Service on a local port."""
    forward = Forward(kind, NAMESPACE, FULLNAME, VALUES["uploader"]["service"]["port"])
    yield forward.url
    forward.close()
