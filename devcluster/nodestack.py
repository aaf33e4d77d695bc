"""A control plane with a real node (:mod:`devcluster.realnode`) and its add-ons: the cluster
behind ``make up NODE=real`` and the tests of tests/node/.

Unlike :class:`devcluster.stack.LocalCluster`, the API server listens on the node's
bridge address (pods reach it through the ``kubernetes`` Service) and there is no S3
server on the host: the store is a pod (:func:`devcluster.addons.s3_manifests`).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from . import addons, chartinstall, nodeimages
from .binaries import Binaries
from .controlplane import ControlPlane
from .processes import StartupError
from .realnode import NODE_IP, RealNode, missing_prerequisites, setup_network



@dataclass(frozen=True)
class Installation:
    """The chart installed on the real node, and where it answers from this machine
    (kube-proxy makes ClusterIPs work from the node itself)."""

    namespace: str
    release: str
    uploader: str          # http://<ClusterIP>:80
    s3_endpoint: str       # <ClusterIP>:7070
    access_key: str
    secret_key: str
    #: The ``--set`` arguments it was installed with (repeat them on ``helm upgrade``).
    values: tuple[str, ...]


@dataclass
class NodeCluster:
    """etcd, kube-apiserver, kube-controller-manager and a real node, rooted at ``state_dir``.

    :meth:`start` takes the Docker images to load into the node (the project's);
    the node's own (pause, CoreDNS, versitygw) are built and loaded as well.
    """

    state_dir: Path
    binaries: Binaries
    control_plane: ControlPlane = field(init=False)
    node: RealNode = field(init=False)
    node_images: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.control_plane = ControlPlane(self.state_dir / "controlplane", self.binaries, address=NODE_IP,
                                          real_node=True)
        self.node = RealNode(self.state_dir / "node", self.binaries, self.control_plane)

    @property
    def kubeconfig(self) -> Path:
        assert self.control_plane.admin_kubeconfig is not None, "cluster not started"
        return self.control_plane.admin_kubeconfig

    def start(self, images: list[str], debian_base: str) -> "NodeCluster":
        """Start everything, load ``images`` and the node's own, run CoreDNS; raises
        :class:`~devcluster.processes.StartupError` (after stopping what started)."""
        try:
            self.node_images = nodeimages.build(self.binaries, debian_base)
            missing = missing_prerequisites()
            if missing:
                raise StartupError("the real node needs " + "; ".join(missing))
            setup_network()  # the API server listens on the node's bridge address
            self.control_plane.start()
            self.node.start()
            self.node.load_images([*self.node_images.values(), *images])
            chartinstall.apply(self, addons.coredns_manifests(self.node_images["coredns"]))
            self.kubectl("-n", "kube-system", "rollout", "status", "deployment/coredns", "--timeout=120s")
        except BaseException:
            self.stop()
            raise
        return self

    def kubectl(self, *args: str, check: bool = True, input: str | None = None,
                timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """The pinned ``kubectl`` as admin; raises ``CalledProcessError`` if ``check`` and it fails."""
        return subprocess.run([str(self.binaries.kubectl), f"--kubeconfig={self.kubeconfig}", *args],
                              capture_output=True, text=True, check=check, input=input, timeout=timeout,
                              env={**os.environ, "PATH": os.pathsep.join([*self.binaries.path_dirs,
                                                                           os.environ.get("PATH", "")])})

    def helm(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """The pinned ``helm`` against this cluster."""
        return subprocess.run([str(self.binaries.helm), f"--kubeconfig={self.kubeconfig}", *args],
                              capture_output=True, text=True, check=check, timeout=timeout)

    def load_images(self, refs: list[str]) -> None:
        """Put Docker images ``refs`` into the node's containerd (no registry: ``docker save | ctr import``)."""
        self.node.load_images(refs)

    def cluster_ip(self, namespace: str, service: str) -> str:
        """The ClusterIP of ``namespace/service``."""
        return self.kubectl("-n", namespace, "get", "service", service, "-o", "jsonpath={.spec.clusterIP}").stdout

    def install(self, namespace: str = "thumbnailer", release: str = "thumbs") -> Installation:
        """Install the chart as a user would (:func:`devcluster.chartinstall.install`: a restricted
        namespace, versitygw as a pod for its S3 store, ``helm install --wait``); answers where it
        is reached from this machine. Raises ``RuntimeError`` with helm's error when helm fails."""
        done = chartinstall.install(self, self.node_images["versitygw"], namespace, release)
        return Installation(namespace, release, f"http://{self.cluster_ip(namespace, f'{release}-thumbnailer')}",
                            f"{self.cluster_ip(namespace, 's3')}:{addons.S3_PORT}", done.access_key,
                            done.secret_key, done.values)

    def stop(self) -> None:
        """Stop the node (its pods first), then the control plane; safe to call twice."""
        self.node.stop()
        self.control_plane.stop()
