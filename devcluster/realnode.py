"""A real Kubernetes node on this machine: containerd (CRI), kubelet, CNI and kube-proxy.

Unlike the development node (:mod:`devcluster.devnode`), pods here are real
containers: their images, security contexts, memory limits, probes, Services
and DNS are what a cluster gives them.

* **Network.** One Linux bridge, :data:`BRIDGE`, holds the node's address
  :data:`NODE_IP`; the CNI bridge plugin (Debian's containernetworking-plugins)
  attaches every pod to it from :data:`POD_SUBNET` (host-local IPAM), with
  hairpin mode so a pod reaches itself through a Service, and the firewall plugin
  lets each pod's traffic through the FORWARD chain (Docker's policy there is
  DROP). No masquerade: pods
  talk only to each other and to the node, never beyond this machine.
* **Runtime.** Debian's containerd (1.6, CRI v1; kubelet 1.36 still accepts the
  1.x line) with its own root, state and socket under the state directory, runc,
  the cgroupfs driver (cgroup v1 here, with kubelet's ``failCgroupV1`` off).
  Images are imported from Docker (``docker save | ctr import``): nothing is pulled.
* **kubelet** authenticates as ``system:node:<name>`` (the Node authorizer) and
  serves its API with a certificate for :data:`NODE_IP`; the API server reaches
  it with a ``system:masters`` client certificate (logs, exec, port-forward).
* **kube-proxy** in iptables mode makes ClusterIPs work, and cluster DNS is
  CoreDNS as a pod (:mod:`devcluster.addons`).

Only one real node can run on a machine at a time (one bridge, one address).
Everything here needs root.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .binaries import Binaries
from .controlplane import ControlPlane, write_kubeconfig
from .processes import ManagedProcess, StartupError, free_port

NODE_NAME = "realnode"
BRIDGE = "thumbnode0"
NODE_IP = "10.244.0.1"
POD_SUBNET = "10.244.0.0/24"
CLUSTER_DNS = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
#: The pod sandbox ("pause") image: Debian's static catatonit in pause mode (nodeimages.py).
SANDBOX_IMAGE = "thumbnailer.local/pause:1"
CNI_BIN_DIR = Path("/usr/lib/cni")
#: Debian packages the node needs beyond docker.io (which brings containerd and runc).
DEBIAN_PACKAGES = ("containernetworking-plugins", "conntrack", "catatonit", "iptables")


def _run(*cmd: str, check: bool = True, input: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, check=check, input=input, timeout=timeout)


def missing_prerequisites() -> list[str]:
    """What this machine lacks for a real node, one phrase each (empty: nothing)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (containerd, kubelet and the bridge need it)")
    for tool in ("containerd", "ctr", "runc", "iptables", "conntrack", "ip", "docker"):
        if _run("sh", "-c", f"command -v {tool}", check=False).returncode != 0:
            missing.append(f"{tool} on PATH")
    for plugin in ("bridge", "host-local", "loopback", "firewall"):
        if not (CNI_BIN_DIR / plugin).is_file():
            missing.append(f"the CNI plugin {CNI_BIN_DIR / plugin}")
    if not Path("/proc/sys/net/bridge/bridge-nf-call-iptables").exists():
        missing.append("bridge netfilter (/proc/sys/net/bridge), which kube-proxy needs for hairpin traffic")
    return missing


def setup_network() -> None:
    """Create :data:`BRIDGE` with :data:`NODE_IP` (idempotent) and let bridged traffic through iptables."""
    if _run("ip", "link", "show", BRIDGE, check=False).returncode != 0:
        _run("ip", "link", "add", BRIDGE, "type", "bridge")
    addrs = _run("ip", "-o", "-4", "addr", "show", "dev", BRIDGE).stdout.decode()
    if f"{NODE_IP}/" not in addrs:
        _run("ip", "addr", "add", f"{NODE_IP}/24", "dev", BRIDGE)
    _run("ip", "link", "set", BRIDGE, "up")
    for knob, value in (("net/bridge/bridge-nf-call-iptables", "1"), ("net/ipv4/ip_forward", "1")):
        Path("/proc/sys", knob).write_text(value)


def teardown_network() -> None:
    """Remove :data:`BRIDGE` (pods' veths go with it) and the iptables chains kubelet adds
    (``kube-proxy --cleanup`` removes only kube-proxy's)."""
    _run("ip", "link", "del", BRIDGE, check=False)
    for iptables in ("iptables", "ip6tables"):
        for hook, chain in (("INPUT", "KUBE-FIREWALL"), ("OUTPUT", "KUBE-FIREWALL")):
            while _run(iptables, "-D", hook, "-j", chain, check=False).returncode == 0:
                pass
        # The CNI firewall plugin's base chains (its per-pod rules went with the pods).
        while _run(iptables, "-D", "FORWARD", "-m", "comment", "--comment", "CNI firewall plugin rules",
                   "-j", "CNI-FORWARD", check=False).returncode == 0:
            pass
        for table in ("filter", "nat", "mangle"):
            for chain in ("KUBE-FIREWALL", "KUBE-KUBELET-CANARY", "KUBE-IPTABLES-HINT", "CNI-FORWARD", "CNI-ADMIN"):
                _run(iptables, "-t", table, "-F", chain, check=False)
                _run(iptables, "-t", table, "-X", chain, check=False)


def cni_config() -> dict:
    """The CNI network list containerd hands every pod sandbox."""
    return {
        "cniVersion": "1.0.0",
        "name": "thumbnailer-node",
        "plugins": [{
            "type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False, "hairpinMode": True,
            "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_SUBNET, "gateway": NODE_IP}]],
                     "routes": [{"dst": "0.0.0.0/0"}]},
        }, {
            # Docker sets the FORWARD policy to DROP, and bridged traffic passes iptables
            # (bridge-nf-call-iptables, for kube-proxy): accept each pod's traffic by address.
            "type": "firewall", "backend": "iptables",
        }],
    }


def containerd_config(state: Path) -> str:
    """containerd 1.6's config (version 2): own root, state and socket; CRI with runc and CNI."""
    return f'''version = 2
root = "{state / 'root'}"
state = "{state / 'state'}"
[grpc]
  address = "{state / 'containerd.sock'}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{SANDBOX_IMAGE}"
  # Where the harness itself runs with a raised oom_score_adj (a sandbox that may not lower
  # it), the kubelet's -998 for pod sandboxes would make runc fail: keep it at least ours.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{state / 'cni'}"
'''


def kubelet_config(state: Path, ca: Path, serving_cert: Path, serving_key: Path, sock: Path,
                   port: int, healthz_port: int) -> dict:
    """The KubeletConfiguration (kubelet.config.k8s.io/v1beta1) of this node."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP, "port": port,
        "healthzBindAddress": "127.0.0.1", "healthzPort": healthz_port,
        "readOnlyPort": 0,
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                           "x509": {"clientCAFile": str(ca)}},
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(serving_cert), "tlsPrivateKeyFile": str(serving_key),
        "containerRuntimeEndpoint": f"unix://{sock}",
        # This machine mounts cgroup v1 (with an empty cgroup2 beside it); kubelet 1.35+
        # refuses v1 unless told, and there is no systemd to delegate to.
        "failCgroupV1": False, "cgroupDriver": "cgroupfs",
        "clusterDNS": [CLUSTER_DNS], "clusterDomain": CLUSTER_DOMAIN,
        # Pods see only cluster DNS: no search domains or resolvers of this machine.
        "resolvConf": str(state / "resolv.conf"),
        "staticPodPath": "",
        "failSwapOn": False,
        "serializeImagePulls": False,
        # Images are imported, never pulled, and this machine's disk is shared: no image GC
        # and no disk-pressure evictions that would remove them.
        "imageGCHighThresholdPercent": 100,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
        "nodeStatusUpdateFrequency": "4s",
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        "maxPods": 60,
        "containerLogMaxSize": "5Mi",
    }


@dataclass
class RealNode:
    """containerd, kubelet and kube-proxy joined to ``control_plane`` as node :data:`NODE_NAME`.

    ``control_plane`` must listen on :data:`NODE_IP` with ``real_node=True``.
    :meth:`start` raises :class:`StartupError` (after stopping what started);
    :meth:`stop` removes every pod, then the node's processes, iptables rules and bridge.
    """

    state_dir: Path
    binaries: Binaries
    control_plane: ControlPlane
    processes: list[ManagedProcess] = field(default_factory=list)

    @property
    def socket(self) -> Path:
        return self.state_dir / "containerd" / "containerd.sock"

    def ctr(self, *args: str, input: bytes | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        """``ctr`` against this node's containerd, in the CRI's ``k8s.io`` namespace."""
        return _run("ctr", "--address", str(self.socket), "--namespace", "k8s.io", *args, input=input,
                    timeout=timeout)

    def crictl(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        """``crictl`` against this node's CRI endpoint."""
        return _run(str(self.binaries.crictl), "--runtime-endpoint", f"unix://{self.socket}",
                    "--image-endpoint", f"unix://{self.socket}", "--timeout", "30s", *args, check=check,
                    timeout=timeout)

    def load_images(self, tags: list[str]) -> None:
        """Import Docker images into the node's containerd (``docker save | ctr images import``)."""
        for tag in tags:
            saved = subprocess.run(["docker", "save", tag], capture_output=True, check=True, timeout=300).stdout
            self.ctr("images", "import", "-", input=saved)

    def start(self, timeout: float = 120.0) -> None:
        """Bring the node up and wait until it is Ready."""
        missing = missing_prerequisites()
        if missing:
            raise StartupError("the real node needs " + "; ".join(missing))
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> None:
        d, cp = self.state_dir, self.control_plane
        assert cp.ca is not None and cp.admin_kubeconfig is not None, "control plane not started"
        logs = d / "logs"
        setup_network()
        ctrd = d / "containerd"
        (ctrd / "cni").mkdir(parents=True, exist_ok=True)
        (ctrd / "cni" / "10-thumbnailer.conflist").write_text(json.dumps(cni_config(), indent=2))
        (ctrd / "config.toml").write_text(containerd_config(ctrd))
        containerd = ManagedProcess("containerd", ["containerd", "--config", str(ctrd / "config.toml")],
                                    logs / "containerd.log")
        self.processes.append(containerd)
        containerd.wait_until(lambda: self.socket.exists() and
                              self.crictl("info", check=False).returncode == 0, timeout, "serving CRI")

        pki = d / "pki"
        pki.mkdir(parents=True, exist_ok=True)
        ca = cp.ca
        node_client = ca.issue(f"{pki.name}-kubelet", f"system:node:{NODE_NAME}", organizations=("system:nodes",))
        serving = ca.issue(f"{pki.name}-kubelet-serving", NODE_NAME, server=True, dns_names=(NODE_NAME,),
                           ip_addresses=(NODE_IP,))
        proxy_client = ca.issue(f"{pki.name}-kube-proxy", "system:kube-proxy")
        kubelet_kc = write_kubeconfig(d / "kubelet.kubeconfig", cp.server, ca.pair.cert, node_client,
                                      user=f"system:node:{NODE_NAME}")
        proxy_kc = write_kubeconfig(d / "kube-proxy.kubeconfig", cp.server, ca.pair.cert, proxy_client,
                                    user="system:kube-proxy")
        (d / "resolv.conf").write_text("")
        kubelet_port, kubelet_healthz = free_port(), free_port()
        (d / "kubelet.yaml").write_text(yaml.safe_dump(kubelet_config(
            d, ca.pair.cert, serving.cert, serving.key, self.socket, kubelet_port, kubelet_healthz)))
        kubelet = ManagedProcess("kubelet", [
            str(self.binaries.kubelet), f"--config={d / 'kubelet.yaml'}", f"--kubeconfig={kubelet_kc}",
            f"--root-dir={d / 'kubelet'}", f"--hostname-override={NODE_NAME}", f"--node-ip={NODE_IP}",
            f"--cert-dir={pki}", "--v=1",
        ], logs / "kubelet.log")
        self.processes.append(kubelet)

        proxy_healthz, proxy_metrics = free_port(), free_port()
        (d / "kube-proxy.yaml").write_text(yaml.safe_dump({
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(proxy_kc)},
            "hostnameOverride": NODE_NAME, "bindAddress": NODE_IP, "mode": "iptables",
            "clusterCIDR": POD_SUBNET, "nodePortAddresses": [f"{NODE_IP}/32"],
            "healthzBindAddress": f"127.0.0.1:{proxy_healthz}", "metricsBindAddress": f"127.0.0.1:{proxy_metrics}",
            # Leave the machine's conntrack sysctls alone (a VM may not allow them).
            "conntrack": {"maxPerCore": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        }))
        proxy = ManagedProcess("kube-proxy", [str(self.binaries.kube_proxy), f"--config={d / 'kube-proxy.yaml'}",
                                              "--v=1"], logs / "kube-proxy.log")
        self.processes.append(proxy)
        kubelet.wait_until(self._ready, timeout, f"node {NODE_NAME} Ready")

    def _kubectl(self, *args: str, check: bool = False) -> subprocess.CompletedProcess:
        return _run(str(self.binaries.kubectl), f"--kubeconfig={self.control_plane.admin_kubeconfig}", *args,
                    check=check)

    def _ready(self) -> bool:
        out = self._kubectl("get", "node", NODE_NAME, "-o",
                            "jsonpath={.status.conditions[?(@.type=='Ready')].status}")
        return out.returncode == 0 and out.stdout.decode().strip() == "True"

    def stop(self) -> None:
        """Remove every pod (so CNI releases its addresses), then stop kube-proxy, kubelet and
        containerd, kill what containerd's shims left, and remove iptables rules and the bridge.
        Safe to call twice."""
        running = {p.name: p for p in self.processes if p.alive()}
        if "containerd" in running and self.socket.exists():
            if "kubelet" in running:
                running["kubelet"].stop()
            self.crictl("rmp", "--all", "--force", check=False, timeout=180)
        for proc in reversed(self.processes):
            proc.stop()
        self.processes.clear()
        # A shim outlives containerd by design; ours carry our socket's path.
        _run("pkill", "-KILL", "-f", f"containerd-shim-runc-v2 .*-address {self.socket}", check=False)
        for _ in range(20):
            if _run("pgrep", "-f", f"-address {self.socket}", check=False).returncode != 0:
                break
            time.sleep(0.25)
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
                  if line.split()[1].startswith(str(self.state_dir))]
        for mount in sorted(mounts, key=len, reverse=True):
            _run("umount", "-l", mount, check=False)
        if self.binaries.kube_proxy.exists():
            _run(str(self.binaries.kube_proxy), "--cleanup", check=False)
        teardown_network()
