"""The development node: a dev/test-only stand-in for a kubelet. Never run it in a real cluster.

There is no container runtime on a developer machine without Docker, so this
agent registers a ``Node``, binds unscheduled pods to it (acting as the
scheduler), and runs each container's ``command`` + ``args`` as a **local
process** in the project's Python environment. It writes pod status the way
the kubelet does (phase; container state ``running`` then ``terminated`` with
exit code, reason and message), so the real Job controller in
kube-controller-manager marks Jobs Complete or Failed and honours
``backoffLimit`` and ``podFailurePolicy``.

What it honours:
  * ``command``/``args`` with ``$(VAR)`` expansion; a container without
    ``command`` cannot run here (the image's entrypoint is unknown) and fails
    with reason ``ContainerCannotRun``.
  * ``env`` (``value``, ``secretKeyRef``, ``configMapKeyRef``, ``fieldRef``) and
    ``envFrom`` (Secrets and ConfigMaps, ``prefix``, ``optional``).
  * init containers in order, then the containers together; ``restartPolicy``
    Never / OnFailure / Always (restart after a capped back-off).
  * the termination message: each container gets a fresh file whose path is in
    the environment variable ``TERMINATION_MESSAGE_PATH`` (a local process
    cannot own ``/dev/termination-log``); ``FallbackToLogsOnError`` uses the
    log tail, like the kubelet (last 80 lines, 2048 bytes). At most 4096 bytes.
  * pod deletion: SIGTERM to the process group, SIGKILL after
    ``terminationGracePeriodSeconds`` (capped at 10 s), then the pod object is
    removed with grace period 0.
  * each container's output is kept in ``<state-dir>/pods/<ns>_<pod>_<uid>/<container>.log``
    (stdout and stderr together); when a container restarts, the log of the run
    before is moved to ``<container>.previous.log``.
  * ``kubectl logs`` (the API's ``pods/log`` subresource): a minimal kubelet-style
    HTTPS endpoint on 127.0.0.1 (a free port, self-signed certificate), advertised
    in the Node's ``status.daemonEndpoints.kubeletEndpoint.Port`` with the address
    ``InternalIP`` 127.0.0.1 (the API server is started with
    ``--kubelet-preferred-address-types=InternalIP``; it verifies no kubelet
    certificate without ``--kubelet-certificate-authority``). It serves only
    ``GET /containerLogs/{namespace}/{pod}/{container}`` and honours
    ``tailLines``, ``limitBytes``, ``previous`` (the run before the last restart;
    400 if the container has not restarted) and ``follow`` (streams until the
    container's process exits, the pod is deleted or the node stops). It ignores
    ``timestamps``, ``sinceSeconds`` and ``sinceTime`` (the log file has no
    per-line times: the whole log is returned). It asks for no client
    certificate: anyone on this machine who finds the port can read pod logs,
    which is fine for a development node and nothing else. No exec, attach,
    port-forward, metrics or ``/healthz``.

What it ignores: images, volumes and mounts, resources and limits, probes,
security contexts, ports and networking (the pod IP is 127.0.0.1), node
selectors, affinity and taints (every pod lands here).
"""

from __future__ import annotations

import argparse
import base64
import datetime
import logging
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from .pki import CertificateAuthority

log = logging.getLogger("devnode")

MAX_MESSAGE_BYTES = 4096  # kubelet's limit for a termination message
FALLBACK_LOG_LINES, FALLBACK_LOG_BYTES = 80, 2048  # kubelet's FallbackToLogsOnError tail
MAX_GRACE_SECONDS = 10.0
_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def now() -> str:
    """The current UTC time as an RFC 3339 string, as Kubernetes writes it."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def expand(text: str, env: dict[str, str]) -> str:
    """Expand ``$(VAR)`` from ``env`` and ``$$`` to ``$``; unknown references stay as written.

    Source: the Kubernetes container ``command``/``args``/``env`` expansion rules.
    """

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return _VAR_REF.sub(sub, text)


class ConfigError(Exception):
    """A container's environment cannot be built (missing Secret or key, ...):
    the kubelet's ``CreateContainerConfigError``."""


def _field_ref(pod: dict, path: str) -> str:
    meta = pod["metadata"]
    m = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if m:
        return (meta.get(m.group(1)) or {}).get(m.group(2), "")
    values = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": pod["spec"].get("nodeName", ""),
        "spec.serviceAccountName": pod["spec"].get("serviceAccountName", ""),
        "status.podIP": "127.0.0.1",
        "status.hostIP": "127.0.0.1",
    }
    if path not in values:
        raise ConfigError(f"unsupported fieldRef {path!r}")
    return values[path]


class PodRunner(threading.Thread):
    """Runs one pod's containers as local processes and reports their state.

    Created by :class:`DevNode` for each pod bound to this node; ends when the
    pod reaches a terminal phase or :meth:`kill` is called.
    """

    def __init__(self, node: "DevNode", pod: dict):
        meta = pod["metadata"]
        super().__init__(name=f"pod-{meta['namespace']}/{meta['name']}", daemon=True)
        self.node, self.pod = node, pod
        self.ns, self.name, self.uid = meta["namespace"], meta["name"], meta["uid"]
        self.dir = node.state_dir / "pods" / f"{self.ns}_{self.name}_{self.uid}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.killed = threading.Event()
        self.procs: dict[str, subprocess.Popen] = {}
        self.statuses: dict[str, dict] = {}
        self.init_statuses: dict[str, dict] = {}
        self.start_time = now()
        #: The phase the runner last ended with; a pod that ended Pending
        #: (for example a missing Secret) is started again by the node.
        self.outcome: str | None = None

    # --- environment -----------------------------------------------------
    def _lookup(self, kind: str, name: str, key: str | None, optional: bool) -> Any:
        api = self.node.api
        try:
            if kind == "secret":
                obj = api.read_namespaced_secret(name, self.ns)
                data = {k: base64.b64decode(v).decode() for k, v in (obj.data or {}).items()}
            else:
                obj = api.read_namespaced_config_map(name, self.ns)
                data = dict(obj.data or {})
        except ApiException as e:
            if e.status == 404 and optional:
                return None if key else {}
            raise ConfigError(f"{kind} {self.ns}/{name} not found") from e
        if key is None:
            return data
        if key not in data:
            if optional:
                return None
            raise ConfigError(f"couldn't find key {key} in {kind} {self.ns}/{name}")
        return data[key]

    def environment(self, container: dict) -> dict[str, str]:
        """The container's environment, as the kubelet would build it.

        Raises :class:`ConfigError` when a referenced Secret/ConfigMap or key is missing.
        """
        env: dict[str, str] = {}
        for src in container.get("envFrom") or []:
            prefix = src.get("prefix", "")
            for kind, ref in (("configmap", src.get("configMapRef")), ("secret", src.get("secretRef"))):
                if ref:
                    data = self._lookup(kind, ref["name"], None, bool(ref.get("optional")))
                    env.update({prefix + k: v for k, v in data.items()})
        for item in container.get("env") or []:
            if "valueFrom" not in item:
                env[item["name"]] = expand(item.get("value", ""), env)
                continue
            vf = item["valueFrom"]
            value: str | None
            if "secretKeyRef" in vf:
                r = vf["secretKeyRef"]
                value = self._lookup("secret", r["name"], r["key"], bool(r.get("optional")))
            elif "configMapKeyRef" in vf:
                r = vf["configMapKeyRef"]
                value = self._lookup("configmap", r["name"], r["key"], bool(r.get("optional")))
            elif "fieldRef" in vf:
                value = _field_ref(self.pod, vf["fieldRef"]["fieldPath"])
            else:
                raise ConfigError(f"unsupported valueFrom in env {item['name']}")
            if value is not None:
                env[item["name"]] = value
        return env

    # --- status ----------------------------------------------------------
    def _container_status(self, c: dict, state: dict, restarts: int = 0, last: dict | None = None) -> dict:
        running = "running" in state
        return {
            "name": c["name"], "image": c.get("image", ""), "imageID": "",
            "containerID": f"devnode://{self.uid}/{c['name']}",
            "ready": running, "started": running, "restartCount": restarts,
            "state": state, "lastState": last or {},
        }

    def _report(self, phase: str) -> None:
        self.outcome = phase
        containers = self.pod["spec"]["containers"]
        all_ready = all(self.statuses.get(c["name"], {}).get("ready") for c in containers)
        initialized = all(s.get("state", {}).get("terminated", {}).get("exitCode") == 0
                          for s in self.init_statuses.values()) and len(self.init_statuses) == len(
            self.pod["spec"].get("initContainers") or [])

        def cond(t: str, ok: bool) -> dict:
            return {"type": t, "status": "True" if ok else "False", "lastTransitionTime": now()}

        status = {
            "phase": phase, "hostIP": "127.0.0.1", "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}], "startTime": self.start_time,
            "conditions": [cond("PodScheduled", True), cond("Initialized", initialized),
                           cond("ContainersReady", all_ready), cond("Ready", all_ready)],
            "containerStatuses": [self.statuses[c["name"]] for c in containers if c["name"] in self.statuses],
        }
        if self.init_statuses:
            status["initContainerStatuses"] = list(self.init_statuses.values())
        try:
            self.node.api.patch_namespaced_pod_status(self.name, self.ns, {"status": status})
        except ApiException as e:
            if e.status != 404:
                log.warning("status update for %s/%s failed: %s", self.ns, self.name, e.reason)

    # --- processes -------------------------------------------------------
    def _launch(self, c: dict, restart: bool = False) -> tuple[subprocess.Popen | None, dict]:
        """Start container ``c``; returns (process or None, state dict).

        ``restart``: the container ran before in this pod; its log so far becomes
        ``<name>.previous.log`` (what ``kubectl logs --previous`` shows).
        """
        if restart and (self.dir / f"{c['name']}.log").exists():
            os.replace(self.dir / f"{c['name']}.log", self.dir / f"{c['name']}.previous.log")
        try:
            env = self.environment(c)
        except ConfigError as e:
            return None, {"waiting": {"reason": "CreateContainerConfigError", "message": str(e)}}
        if not c.get("command"):
            return None, {"terminated": {"exitCode": 128, "reason": "ContainerCannotRun",
                                         "message": "the development node runs only containers with an explicit "
                                                    "command (it cannot read an image's entrypoint)",
                                         "startedAt": now(), "finishedAt": now()}}
        argv = [expand(a, env) for a in c["command"] + (c.get("args") or [])]
        msg_file = self.dir / f"{c['name']}.termination-log"
        msg_file.write_bytes(b"")
        proc_env = {
            "PATH": os.pathsep.join([self.node.python_bin, os.environ.get("PATH", "/usr/bin:/bin")]),
            "HOME": str(self.dir), "LANG": "C.UTF-8",
            "HOSTNAME": self.name, "TERMINATION_MESSAGE_PATH": str(msg_file),
            **env,
        }
        log_file = open(self.dir / f"{c['name']}.log", "ab")
        try:
            proc = subprocess.Popen(argv, env=proc_env, cwd=self.dir, stdin=subprocess.DEVNULL,
                                    stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as e:
            return None, {"terminated": {"exitCode": 127, "reason": "StartError", "message": str(e),
                                         "startedAt": now(), "finishedAt": now()}}
        finally:
            log_file.close()
        return proc, {"running": {"startedAt": now()}}

    def _terminated(self, c: dict, rc: int, started: str) -> dict:
        msg = (self.dir / f"{c['name']}.termination-log").read_bytes()[:MAX_MESSAGE_BYTES]
        if not msg.strip() and rc != 0 and c.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            lines = (self.dir / f"{c['name']}.log").read_bytes().splitlines()[-FALLBACK_LOG_LINES:]
            msg = b"\n".join(lines)[-FALLBACK_LOG_BYTES:]
        if rc < 0:  # killed by a signal: report as a shell would (128 + signal)
            rc = 128 - rc
        state: dict[str, Any] = {"exitCode": rc, "reason": "Completed" if rc == 0 else "Error",
                                 "startedAt": started, "finishedAt": now()}
        if msg.strip():
            state["message"] = msg.decode("utf-8", "replace")
        return {"terminated": state}

    def _run_to_exit(self, c: dict) -> dict:
        """Start ``c`` and wait; returns its final state dict."""
        proc, state = self._launch(c)
        if proc is None:
            return state
        self.procs[c["name"]] = proc
        started = state["running"]["startedAt"]
        return self._wait(c, proc, started)

    def _wait(self, c: dict, proc: subprocess.Popen, started: str) -> dict:
        while proc.poll() is None:
            if self.killed.wait(0.1):
                self._signal(proc)
        return self._terminated(c, proc.returncode, started)

    def _signal(self, proc: subprocess.Popen) -> None:
        grace = min(float(self.pod["spec"].get("terminationGracePeriodSeconds", 30)), MAX_GRACE_SECONDS)
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def kill(self) -> None:
        """Ask the runner to stop every process (SIGTERM, then SIGKILL)."""
        self.killed.set()

    def run(self) -> None:
        spec = self.pod["spec"]
        policy = spec.get("restartPolicy", "Always")
        self._report("Pending")
        for c in spec.get("initContainers") or []:
            state = self._run_to_exit(c)
            self.init_statuses[c["name"]] = self._container_status(c, state)
            if state.get("terminated", {}).get("exitCode") != 0:
                if "waiting" not in state and (policy == "Never" or self.killed.is_set()):
                    return self._report("Failed")
                self._report("Pending")
                return  # config error or restartable: the node retries the pod on its next sync
        threads = [threading.Thread(target=self._run_container, args=(c, policy), daemon=True)
                   for c in spec["containers"]]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = [s["state"].get("terminated", {}).get("exitCode") for s in self.statuses.values()]
        if any("waiting" in s["state"] for s in self.statuses.values()) and not self.killed.is_set():
            self._report("Pending")
            return
        self._report("Succeeded" if all(code == 0 for code in codes) else "Failed")

    def _run_container(self, c: dict, policy: str) -> None:
        restarts, last, backoff = 0, None, 1.0
        while True:
            proc, state = self._launch(c, restart=restarts > 0)
            self.statuses[c["name"]] = self._container_status(c, state, restarts, last)
            if proc is None:
                if "waiting" in state:
                    self._report("Pending")
                    return
            else:
                self.procs[c["name"]] = proc
                self._report("Running")
                state = self._wait(c, proc, state["running"]["startedAt"])
                self.statuses[c["name"]] = self._container_status(c, state, restarts, last)
            code = state["terminated"]["exitCode"]
            again = policy == "Always" or (policy == "OnFailure" and code != 0)
            if not again or self.killed.is_set():
                return
            restarts, last = restarts + 1, state
            self._report("Running")
            if self.killed.wait(backoff):
                return
            backoff = min(backoff * 2, 10.0)


class _TLSServer(ThreadingHTTPServer):
    """A threading HTTP server whose connections are TLS; the handshake runs in the
    connection's own thread (a stalled client never blocks ``accept``)."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, context: ssl.SSLContext):
        self.context = context
        super().__init__(address, handler)

    def get_request(self):  # socketserver hook
        sock, addr = self.socket.accept()
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address) -> None:  # quiet: clients come and go
        log.debug("kubelet endpoint: connection from %s failed", client_address, exc_info=True)


class _LogHandler(BaseHTTPRequestHandler):
    """``GET /containerLogs/{namespace}/{pod}/{container}``, as the kubelet serves it
    to the API server (see the module docstring for the query parameters)."""

    node: "DevNode"
    server_version = "devnode-kubelet"
    timeout = 30.0
    follow_poll = 0.2

    def setup(self) -> None:
        self.request.settimeout(self.timeout)
        self.request.do_handshake()
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # BaseHTTPRequestHandler's name
        log.debug("kubelet endpoint: " + format, *args)

    def _error(self, code: int, message: str) -> None:
        body = (message + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # BaseHTTPRequestHandler's name
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.split("/")]
        if len(parts) != 5 or parts[1] != "containerLogs" or not all(parts[2:]):
            return self._error(404, "the development node serves only /containerLogs/{namespace}/{pod}/{container}")
        ns, pod, container = parts[2:]
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            tail = _count(query, "tailLines")
            limit = _count(query, "limitBytes")
        except ValueError as e:
            return self._error(400, str(e))
        previous = query.get("previous", "").lower() == "true"
        follow = query.get("follow", "").lower() == "true" and not previous
        try:
            path, runner = self.node.container_log(ns, pod, container, previous)
        except LookupError as e:
            return self._error(404, e.args[0])
        except ValueError as e:
            return self._error(400, e.args[0])
        data = path.read_bytes()
        offset = len(data)
        if tail is not None:
            data = b"".join(data.splitlines(keepends=True)[-tail:]) if tail else b""
        if limit is not None:
            data = data[:limit]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        if not follow:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()  # HTTP/1.0: a followed log ends when the connection closes
        try:
            self.wfile.write(data)
            sent = len(data)
            while follow and (limit is None or sent < limit):
                running = self.node.container_running(runner, container)
                with open(path, "rb") as f:
                    f.seek(offset)
                    chunk = f.read(65536)
                if chunk:
                    offset += len(chunk)
                    chunk = chunk if limit is None else chunk[:limit - sent]
                    self.wfile.write(chunk)
                    sent += len(chunk)
                elif not running or self.node.stop.wait(self.follow_poll):
                    break  # read once more after the process ended, then stop
        except (OSError, ssl.SSLError):
            pass  # the client went away


def _count(query: dict[str, str], name: str) -> int | None:
    """A non-negative integer query parameter, or None when absent; raises ValueError."""
    if name not in query:
        return None
    try:
        value = int(query[name])
    except ValueError:
        raise ValueError(f"{name}: not an integer: {query[name]!r}") from None
    if value < 0:
        raise ValueError(f"{name}: must not be negative")
    return value


class KubeletEndpoint:
    """The node's HTTPS log endpoint on ``127.0.0.1:<port>`` with a fresh self-signed
    certificate under ``<state-dir>/kubelet-pki``; :meth:`start` serves in a thread."""

    def __init__(self, node: "DevNode"):
        pki = CertificateAuthority(node.state_dir / "kubelet-pki", common_name="devnode-kubelet-ca")
        pair = pki.issue("kubelet", node.node_name, server=True, dns_names=(node.node_name, "localhost"),
                         ip_addresses=("127.0.0.1",))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(pair.cert), str(pair.key))
        handler = type("LogHandler", (_LogHandler,), {"node": node})
        self.httpd = _TLSServer(("127.0.0.1", 0), handler, context)
        self.port: int = self.httpd.server_address[1]

    def start(self) -> None:
        threading.Thread(target=self.httpd.serve_forever, name="kubelet-endpoint", daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class DevNode:
    """Registers ``node_name`` and runs the pods bound to it until ``stop`` is set.

    ``api`` is a ``CoreV1Api``; ``python_bin`` is put first on every
    process's ``PATH`` so ``python`` is the project's interpreter.
    """

    def __init__(self, api: client.CoreV1Api, node_name: str, state_dir: Path, python_bin: str):
        self.api, self.node_name, self.state_dir, self.python_bin = api, node_name, state_dir, python_bin
        self.runners: dict[str, PodRunner] = {}
        self.finalized: set[str] = set()
        self.retry_after: dict[str, float] = {}
        self.stop = threading.Event()
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
        runner = PodRunner(self, pod)
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
        self.endpoint = KubeletEndpoint(self)
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
                   args.state_dir, str(Path(sys.executable).parent))
    signal.signal(signal.SIGTERM, lambda *_: node.stop.set())
    signal.signal(signal.SIGINT, lambda *_: node.stop.set())
    node.run()


if __name__ == "__main__":
    main()
