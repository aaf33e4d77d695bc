"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager
(and kube-scheduler, for a real node).

Nothing here is a mock: the API server is the upstream binary with TLS,
client-certificate authentication, RBAC authorization and service-account
token signing (so the TokenRequest API works); the controller manager runs the
real Job controller, garbage collector and ttl-after-finished controller.

Controllers that assume a kubelet heartbeats its node (node lifecycle, taint
eviction, pod GC) are left out: the development node (:mod:`devcluster.devnode`)
runs pods without one.
"""

from __future__ import annotations

import ssl
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .binaries import Binaries
from .pki import CertificateAuthority, CertPair, write_service_account_keys
from .processes import ManagedProcess, free_port

SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
#: ClusterIPs of Services; the first is the ``kubernetes`` Service's.
SERVICE_CIDR = "10.96.0.0/16"

#: Controllers run by kube-controller-manager (names as of Kubernetes 1.28+).
CONTROLLERS = (
    "job-controller",
    "garbage-collector-controller",
    "ttl-after-finished-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "deployment-controller",
    "replicaset-controller",
    "endpointslice-controller",
    "resourcequota-controller",
)

#: With a real kubelet heartbeating its Node: the node lifecycle controller (it lifts the
#: not-ready taint a kubelet registers with, and taints and evicts when the node goes away)
#: and pod garbage collection.
REAL_NODE_CONTROLLERS = ("node-lifecycle-controller", "pod-garbage-collector-controller")


def write_kubeconfig(path: Path, server: str, ca: Path, client: CertPair | None = None,
                     token: str | None = None, user: str = "admin") -> Path:
    """Write a kubeconfig for ``server`` with a client certificate or a bearer token.

    File paths inside it are absolute, so it works from any directory. Returns ``path``.
    """
    creds: dict[str, str] = {}
    if client is not None:
        creds = {"client-certificate": str(client.cert), "client-key": str(client.key)}
    if token is not None:
        creds = {"token": token}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "devcluster", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": creds}],
        "contexts": [{"name": "devcluster", "context": {"cluster": "devcluster", "user": user}}],
        "current-context": "devcluster",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


@dataclass
class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager in ``state_dir``.

    After :meth:`start`, ``server`` is the API server URL
    (``https://127.0.0.1:<port>``) and ``admin_kubeconfig`` authenticates as a
    member of ``system:masters``. :meth:`stop` terminates all three.
    """

    state_dir: Path
    binaries: Binaries
    #: Where the API server listens and what it advertises. 127.0.0.1 for the development
    #: node; a real node's pods cannot reach the host's loopback, so it gives its bridge
    #: address (:mod:`devcluster.realnode`), and the ``kubernetes`` Service then has an
    #: endpoint there (Endpoints refuse loopback addresses).
    address: str = "127.0.0.1"
    #: A real kubelet authenticates as ``system:node:<name>``: the Node authorizer and the
    #: NodeRestriction admission plugin serve it, as on any kubeadm cluster.
    real_node: bool = False
    processes: list[ManagedProcess] = field(default_factory=list)
    server: str = ""
    admin_kubeconfig: Path | None = None
    ca: CertificateAuthority | None = None
    #: Every TCP port the three servers listen on (for leak checks).
    ports: list[int] = field(default_factory=list)

    def start(self, timeout: float = 120.0) -> None:
        """Start the three servers and wait until the API server is ready and
        the controller manager has created the ``default`` ServiceAccount.

        Raises :class:`devcluster.processes.StartupError` on failure (after
        stopping whatever did start).
        """
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> None:
        d = self.state_dir
        pki = d / "pki"
        logs = d / "logs"
        self.ca = ca = CertificateAuthority(pki)
        serving = ca.issue(
            "apiserver", "kube-apiserver", server=True,
            dns_names=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                       "kubernetes.default.svc.cluster.local"),
            ip_addresses=tuple(dict.fromkeys(("127.0.0.1", self.address, "10.96.0.1"))),
        )
        admin = ca.issue("admin", "devcluster-admin", organizations=("system:masters",))
        kcm = ca.issue("controller-manager", "system:kube-controller-manager")
        sa = write_service_account_keys(pki)
        # The API server's client certificate for kubelets (logs, exec, port-forward).
        kubelet_client = ca.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client",
                                  organizations=("system:masters",))

        etcd_port, etcd_peer, api_port, kcm_port = free_port(), free_port(), free_port(), free_port()
        self.ports = [etcd_port, etcd_peer, api_port, kcm_port]
        etcd = ManagedProcess("etcd", [
            str(self.binaries.etcd), "--name", "devcluster", "--data-dir", str(d / "etcd"),
            "--listen-client-urls", f"http://127.0.0.1:{etcd_port}",
            "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
            "--listen-peer-urls", f"http://127.0.0.1:{etcd_peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{etcd_peer}",
            "--initial-cluster", f"devcluster=http://127.0.0.1:{etcd_peer}",
            "--unsafe-no-fsync", "--log-level", "warn",
        ], logs / "etcd.log")
        self.processes.append(etcd)
        etcd.wait_until(lambda: b'"health":"true"' in urllib.request.urlopen(
            f"http://127.0.0.1:{etcd_port}/health", timeout=2).read(), timeout, "healthy")

        self.server = f"https://{self.address}:{api_port}"
        if self.real_node:
            node_flags = ["--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
                          f"--kubelet-certificate-authority={ca.pair.cert}",
                          f"--kubelet-client-certificate={kubelet_client.cert}",
                          f"--kubelet-client-key={kubelet_client.key}"]
        else:
            # The kubernetes Service's endpoint would be 127.0.0.1, which
            # Endpoints validation rejects; nothing in-cluster needs it here.
            node_flags = ["--authorization-mode=RBAC", "--endpoint-reconciler-type=none"]
        apiserver = ManagedProcess("kube-apiserver", [
            str(self.binaries.kube_apiserver),
            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            f"--bind-address={self.address}", f"--advertise-address={self.address}", f"--secure-port={api_port}",
            f"--cert-dir={pki}",
            f"--tls-cert-file={serving.cert}", f"--tls-private-key-file={serving.key}",
            f"--client-ca-file={ca.pair.cert}",
            *node_flags,
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={sa.cert}",
            f"--service-account-signing-key-file={sa.key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            # `kubectl logs` reaches the development node's log endpoint at its InternalIP
            # (127.0.0.1); its Hostname address ("devnode") resolves nowhere.
            "--kubelet-preferred-address-types=InternalIP",
            "--profiling=false",
            "--v=1",
        ], logs / "kube-apiserver.log")
        self.processes.append(apiserver)
        self.admin_kubeconfig = write_kubeconfig(d / "admin.kubeconfig", self.server, ca.pair.cert, admin)
        ctx = ssl.create_default_context(cafile=str(ca.pair.cert))
        ctx.load_cert_chain(str(admin.cert), str(admin.key))
        apiserver.wait_until(
            lambda: urllib.request.urlopen(f"{self.server}/readyz", context=ctx, timeout=2).status == 200,
            timeout, "ready",
        )

        kcm_kubeconfig = write_kubeconfig(d / "controller-manager.kubeconfig", self.server, ca.pair.cert, kcm,
                                          user="system:kube-controller-manager")
        controller_manager = ManagedProcess("kube-controller-manager", [
            str(self.binaries.kube_controller_manager),
            f"--kubeconfig={kcm_kubeconfig}",
            f"--authentication-kubeconfig={kcm_kubeconfig}",
            f"--authorization-kubeconfig={kcm_kubeconfig}",
            "--bind-address=127.0.0.1", f"--secure-port={kcm_port}",
            f"--cert-dir={pki / 'kcm'}",
            "--leader-elect=false",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={sa.key}",
            f"--root-ca-file={ca.pair.cert}",
            "--controllers=" + ",".join(CONTROLLERS + (REAL_NODE_CONTROLLERS if self.real_node else ())),
            "--v=1",
        ], logs / "kube-controller-manager.log")
        self.processes.append(controller_manager)
        controller_manager.wait_until(
            lambda: urllib.request.urlopen(
                f"{self.server}/api/v1/namespaces/default/serviceaccounts/default",
                context=ctx, timeout=2).status == 200,
            timeout, "creating the default ServiceAccount",
        )

        if self.real_node:  # the development node binds its pods itself
            sched = ca.issue("scheduler", "system:kube-scheduler")
            sched_kubeconfig = write_kubeconfig(d / "scheduler.kubeconfig", self.server, ca.pair.cert, sched,
                                                user="system:kube-scheduler")
            sched_port = free_port()
            self.ports.append(sched_port)
            scheduler = ManagedProcess("kube-scheduler", [
                str(self.binaries.kube_scheduler),
                f"--kubeconfig={sched_kubeconfig}",
                f"--authentication-kubeconfig={sched_kubeconfig}",
                f"--authorization-kubeconfig={sched_kubeconfig}",
                "--bind-address=127.0.0.1", f"--secure-port={sched_port}", f"--cert-dir={pki / 'scheduler'}",
                "--leader-elect=false", "--v=1",
            ], logs / "kube-scheduler.log")
            self.processes.append(scheduler)

    def stop(self) -> None:
        """Stop the servers in reverse order of start; safe to call twice."""
        for proc in reversed(self.processes):
            proc.stop()
        self.processes.clear()
