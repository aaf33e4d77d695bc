"""The development node: a dev/test-only stand-in for a kubelet. Never run it in a real cluster.

There is no container runtime on a developer machine without Docker, so this
agent registers a ``Node``, binds unscheduled pods to it (acting as the
scheduler), and runs each container's ``command`` + ``args`` as a **local
process** in the project's Python environment. It writes pod status the way
the kubelet does (phase; container state ``running`` then ``terminated`` with
exit code, reason and message), so the real Job controller in
kube-controller-manager marks Jobs Complete or Failed and honours
``backoffLimit`` and ``podFailurePolicy``.

This module is the node loop: register the Node, keep its heartbeat, bind
pending pods and start or stop one :class:`~devcluster.podrunner.PodRunner`
per pod (what a pod's containers get: env, restarts, termination messages, log
files; see :mod:`devcluster.podrunner`). ``kubectl logs`` reaches the node's
:class:`~devcluster.logserver.KubeletEndpoint` (see :mod:`devcluster.logserver`).
A deleted pod's processes are stopped, then the pod object is removed with
grace period 0.

What it ignores: images, volumes and mounts, resources and limits, probes,
security contexts, ports and networking (the pod IP is 127.0.0.1), node
selectors, affinity and taints (every pod lands here).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from pathlib import Path

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from .logserver import KubeletEndpoint
from .podrunner import MAX_GRACE_SECONDS, PodRunner, now
from .processes import stop_requested

log = logging.getLogger("devnode")


class DevNode:
    """Registers ``node_name`` and runs the pods bound to it until ``stop`` is set.

    ``api`` is a ``CoreV1Api``; ``python_bin`` is put first on every
    process's ``PATH`` so ``python`` is the project's interpreter; ``stop`` is the
    event that ends :meth:`run` (a new one when not given).
    """

    def __init__(self, api: client.CoreV1Api, node_name: str, state_dir: Path, python_bin: str,
                 stop: threading.Event | None = None):
        self.api, self.node_name, self.state_dir, self.python_bin = api, node_name, state_dir, python_bin
        self.runners: dict[str, PodRunner] = {}
        self.finalized: set[str] = set()
        self.retry_after: dict[str, float] = {}
        self.stop = stop or threading.Event()
        self.endpoint: KubeletEndpoint | None = None

    def container_log(self, ns: str, pod: str, container: str, previous: bool) -> tuple[Path, PodRunner | None]:
        """The log file of ``container`` in the newest pod ``ns/pod`` run here, and its runner
        (None if this node process did not run it). Raises LookupError (unknown pod or
        container) or ValueError (not started yet; no previous run), with the message."""
        runner = next((r for r in reversed(list(self.runners.values())) if (r.ns, r.name) == (ns, pod)), None)
        if runner is not None:
            directory, spec = runner.dir, runner.pod["spec"]
            names = [c["name"] for c in (spec.get("initContainers") or []) + spec["containers"]]
            if container not in names:
                raise LookupError(f"container {container!r} is not valid for pod {pod!r}")
        else:
            dirs = sorted((self.state_dir / "pods").glob(f"{ns}_{pod}_*"), key=lambda d: d.stat().st_mtime)
            if not dirs:
                raise LookupError(f"pod {ns}/{pod} is not known to the development node")
            directory = dirs[-1]
        if previous:
            path = directory / f"{container}.previous.log"
            if not path.exists():
                raise ValueError(f"previous terminated container {container!r} in pod {pod!r} not found")
        else:
            path = directory / f"{container}.log"
            if not path.exists():
                raise ValueError(f"container {container!r} in pod {pod!r} is waiting to start")
        return path, runner

    @staticmethod
    def container_running(runner: PodRunner | None, container: str) -> bool:
        """Whether ``container``'s process in ``runner``'s pod is still running."""
        proc = runner.procs.get(container) if runner is not None else None
        return proc is not None and proc.poll() is None

    def register(self) -> None:
        """Create (or take over) the Node object and mark it Ready."""
        body = {
            "metadata": {"name": self.node_name, "labels": {
                "kubernetes.io/hostname": self.node_name, "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64", "thumbnailer.dev/development-node": "true"}},
        }
        try:
            self.api.create_node(body)
        except ApiException as e:
            if e.status != 409:
                raise
        self.heartbeat()

    def heartbeat(self) -> None:
        """Write the Node's Ready condition and capacity."""
        capacity = {"cpu": str(os.cpu_count() or 1), "memory": "8Gi", "pods": "110"}
        endpoints = {"kubeletEndpoint": {"Port": self.endpoint.port}} if self.endpoint else {}
        self.api.patch_node_status(self.node_name, {"status": {
            "daemonEndpoints": endpoints,
            "capacity": capacity, "allocatable": capacity,
            "conditions": [{"type": "Ready", "status": "True", "reason": "DevNodeReady",
                            "message": "development node (runs containers as local processes)",
                            "lastHeartbeatTime": now(), "lastTransitionTime": now()}],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                          {"type": "Hostname", "address": self.node_name}],
            "nodeInfo": {"kubeletVersion": "devnode", "containerRuntimeVersion": "local-process://",
                         "operatingSystem": "linux", "architecture": "amd64", "osImage": "",
                         "kernelVersion": "", "kubeProxyVersion": "", "machineID": "", "systemUUID": "",
                         "bootID": ""}}})

    def sync(self, pod: dict) -> None:
        """Drive one pod one step towards what the kubelet would make of it."""
        meta, spec, status = pod["metadata"], pod["spec"], pod.get("status") or {}
        uid = meta["uid"]
        node = spec.get("nodeName")
        if not node:
            if not meta.get("deletionTimestamp") and spec.get("schedulerName", "default-scheduler") == "default-scheduler":
                self._bind(meta)
            return
        if node != self.node_name:
            return
        runner = self.runners.get(uid)
        if meta.get("deletionTimestamp"):
            if runner is not None and runner.is_alive():
                runner.kill()
                runner.join(MAX_GRACE_SECONDS + 10)
            if uid not in self.finalized:
                self.finalized.add(uid)
                try:
                    self.api.delete_namespaced_pod(meta["name"], meta["namespace"], grace_period_seconds=0)
                except ApiException as e:
                    if e.status != 404:
                        log.warning("deleting %s/%s failed: %s", meta["namespace"], meta["name"], e.reason)
            return
        if status.get("phase") in ("Succeeded", "Failed"):
            return
        if runner is not None and (runner.is_alive() or runner.outcome in ("Succeeded", "Failed")):
            return
        if runner is not None and time.monotonic() < self.retry_after.get(uid, 0):
            return
        runner = PodRunner(self.api, pod, self.state_dir / "pods", self.python_bin)
        self.runners[uid] = runner
        self.retry_after[uid] = time.monotonic() + 2.0
        log.info("starting pod %s/%s", meta["namespace"], meta["name"])
        runner.start()

    def _bind(self, meta: dict) -> None:
        body = {"apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
                "target": {"apiVersion": "v1", "kind": "Node", "name": self.node_name}}
        try:  # raw response: the generated client fails to deserialize a Binding
            self.api.create_namespaced_pod_binding(meta["name"], meta["namespace"], body, _preload_content=False)
        except ApiException as e:
            if e.status not in (404, 409):
                log.warning("binding %s/%s failed: %s", meta["namespace"], meta["name"], e.reason)

    def run(self) -> None:
        """Serve the log endpoint and list-then-watch all pods until :attr:`stop` is set,
        re-listing on any error."""
        self.endpoint = KubeletEndpoint(self, self.state_dir / "kubelet-pki", self.node_name)
        self.endpoint.start()
        log.info("kubelet endpoint (container logs) on https://127.0.0.1:%d", self.endpoint.port)
        self.register()
        serialize = self.api.api_client.sanitize_for_serialization
        last_beat = time.monotonic()
        while not self.stop.is_set():
            try:
                pods = self.api.list_pod_for_all_namespaces()
                for pod in pods.items:
                    self.sync(serialize(pod))
                w = watch.Watch()
                for event in w.stream(self.api.list_pod_for_all_namespaces,
                                      resource_version=pods.metadata.resource_version, timeout_seconds=5):
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self.sync(serialize(event["object"]))
                    if self.stop.is_set():
                        w.stop()
                if time.monotonic() - last_beat > 20:
                    self.heartbeat()
                    last_beat = time.monotonic()
            except Exception as e:  # noqa: BLE001 - keep the node alive across API hiccups
                if not self.stop.is_set():
                    log.warning("pod watch failed (%s); re-listing", e)
                    self.stop.wait(1.0)
        for runner in self.runners.values():
            runner.kill()
        for runner in self.runners.values():
            runner.join(MAX_GRACE_SECONDS + 10)
        self.endpoint.stop()


def main(argv: list[str] | None = None) -> None:
    """``python -m devcluster.devnode --kubeconfig K --state-dir D [--node-name N]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--node-name", default="devnode")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s devnode %(levelname)s %(message)s")
    node = DevNode(client.CoreV1Api(config.new_client_from_config(args.kubeconfig)), args.node_name,
                   args.state_dir, str(Path(sys.executable).parent), stop=stop_requested())
    node.run()


if __name__ == "__main__":
    main()
