"""The development node's process runner: runs one pod's containers as host processes and reports their status.

Dev/test only (see :mod:`devcluster.devnode`, which starts a :class:`PodRunner`
for each pod bound to it). What a runner honours:
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
  * stopping (the pod is deleted, or the node stops): SIGTERM to the process
    group, SIGKILL after ``terminationGracePeriodSeconds`` (capped at 10 s).
  * each container's output is kept in ``<pods-dir>/<ns>_<pod>_<uid>/<container>.log``
    (stdout and stderr together); when a container restarts, the log of the run
    before is moved to ``<container>.previous.log``.

It writes pod status the way the kubelet does (phase; container state
``running`` then ``terminated`` with exit code, reason and message).
"""

from __future__ import annotations

import base64
import datetime
import logging
import os
import re
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

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

    Started by the development node for each pod bound to it; ends when the
    pod reaches a terminal phase or :meth:`kill` is called. ``api`` reads the
    pod's Secrets and ConfigMaps and writes its status; the pod's files go in
    ``pods_dir/<ns>_<pod>_<uid>/``; ``python_bin`` (a directory) is put first on
    every process's ``PATH`` so ``python`` is the project's interpreter.
    """

    def __init__(self, api: client.CoreV1Api, pod: dict, pods_dir: Path, python_bin: str):
        meta = pod["metadata"]
        super().__init__(name=f"pod-{meta['namespace']}/{meta['name']}", daemon=True)
        self.api, self.pod, self.python_bin = api, pod, python_bin
        self.ns, self.name, self.uid = meta["namespace"], meta["name"], meta["uid"]
        self.dir = pods_dir / f"{self.ns}_{self.name}_{self.uid}"
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
        try:
            if kind == "secret":
                obj = self.api.read_namespaced_secret(name, self.ns)
                data = {k: base64.b64decode(v).decode() for k, v in (obj.data or {}).items()}
            else:
                obj = self.api.read_namespaced_config_map(name, self.ns)
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
            self.api.patch_namespaced_pod_status(self.name, self.ns, {"status": status})
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
            "PATH": os.pathsep.join([self.python_bin, os.environ.get("PATH", "/usr/bin:/bin")]),
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
