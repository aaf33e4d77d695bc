"""The kind cluster for tests/e2e, with the chart installed from locally built images.

Uses pytest-kind's :class:`KindCluster` directly rather than its ``kind_cluster``
fixture, so that nothing is downloaded: kind is ``--kind-bin`` or the one on
PATH, kubectl and helm are the pinned builds (hack/provision.sh, found through
devcluster.binaries). pytest-kind's own options still apply: ``--cluster-name``,
``--keep-cluster`` (keep the cluster and, after a failure, the release),
``--kind-image``.

Where no Docker engine answers or no kind is found, the suite (one test) is
skipped with one sentence saying which.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from pytest_kind import KindCluster

import kindsuite
from devcluster.binaries import Binaries, ProvisionError
from kindsuite import CHART, FULLNAME, NAMESPACE, RELEASE, REPO

VALUES = yaml.safe_load((CHART / "values.yaml").read_text())


def run(*cmd: str | Path, env: dict | None = None, timeout: float = 900, check: bool = True) -> str:
    """Run a command; on failure, fail the test with its output (not a bare CalledProcessError)."""
    proc = subprocess.run([str(c) for c in cmd], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        pytest.fail(f"`{' '.join(map(str, cmd))}` exited {proc.returncode}\n"
                    f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}", pytrace=False)
    return proc.stdout


@dataclass
class Kind:
    cluster: KindCluster
    binaries: Binaries

    @property
    def env(self) -> dict[str, str]:
        return {"KUBECONFIG": str(self.cluster.kubeconfig_path)}

    def kubectl(self, *args: str, check: bool = True, timeout: float = 300) -> str:
        return run(self.binaries.kubectl, *args, env=self.env, check=check, timeout=timeout)

    def helm(self, *args: str, check: bool = True, timeout: float = 900) -> str:
        return run(self.binaries.helm, *args, env=self.env, check=check, timeout=timeout)

    def diagnostics(self) -> str:
        """What to look at when something did not happen in time."""
        parts = [self.kubectl("get", "all,thumbnailjobs,events", "-n", NAMESPACE, "-o", "wide", check=False)]
        for component in ("operator", "uploader"):
            parts.append(self.kubectl("logs", "-n", NAMESPACE, f"deployment/{FULLNAME}-{component}",
                                      "--tail=40", check=False))
        return "\n".join(parts)


@pytest.fixture(scope="session")
def kind(request) -> Kind:
    """A kind cluster with both images loaded (built by `make images`)."""
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
        for ref in kindsuite.image_refs(VALUES):
            cluster.load_docker_image(ref)
        yield Kind(cluster, binaries)
    finally:
        if not opt("keep_cluster"):
            cluster.delete()


@pytest.fixture(scope="module")
def release(kind: Kind, request) -> str:
    """The chart installed with its defaults (bundled MinIO), as the README's kind install does.

    ``upgrade --install`` so a cluster kept from an earlier run is fine too.
    """
    kind.helm("upgrade", "--install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--create-namespace",
              "--wait", "--timeout", "10m", timeout=900)
    yield RELEASE
    installed = kind.helm("status", RELEASE, "-n", NAMESPACE, check=False)
    if installed and not request.config.getoption("keep_cluster"):
        kind.helm("uninstall", RELEASE, "-n", NAMESPACE, "--wait", "--timeout", "5m", check=False)


@pytest.fixture(scope="module")
def uploader_url(kind: Kind, release: str) -> str:
    """The uploader Service on a local port (kubectl port-forward)."""
    # pytest-kind's port_forward tries `retries` times (it does not stop at the
    # first success; about a second each) and keeps the last forward running.
    with kind.cluster.port_forward(f"service/{FULLNAME}", VALUES["uploader"]["service"]["port"],
                                   "--namespace", NAMESPACE, retries=5) as port:
        yield f"http://127.0.0.1:{port}"
