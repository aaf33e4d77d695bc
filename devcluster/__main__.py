"""``python -m devcluster up | down | status | put FILE KEY | serve``: the local stack behind ``make up``.

``up`` starts ``serve`` in the background, waits until the stack is ready and
prints where it is; ``down`` stops it and checks that nothing it started is
left listening. The state (logs, data, certificates) lives in ``.local/`` and
is recreated by every ``up``; the admin kubeconfig is ``.local/kubeconfig``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from .binaries import REPO_ROOT, Binaries
from .components import start_component, start_components
from .processes import StartupError, port_is_listening, stop_requested
from .stack import LocalCluster

#: Where the stack keeps its state; ``DEVCLUSTER_STATE`` moves it (the tests run a second stack).
STATE = Path(os.environ.get("DEVCLUSTER_STATE") or REPO_ROOT / ".local")
STACK_FILE = STATE / "stack.json"
KUBECONFIG = STATE / "kubeconfig"
#: The uploader's port on 127.0.0.1 (the README's curl commands use 8000).
UPLOADER_PORT = int(os.environ.get("DEVCLUSTER_UPLOADER_PORT") or 8000)


def _read_stack() -> dict | None:
    try:
        return json.loads(STACK_FILE.read_text())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs: it exists and is not a zombie (dead, not yet reaped by its parent)."""
    try:
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (ProcessLookupError, FileNotFoundError):
        return False
    except (OSError, IndexError):  # no /proc: existing is all we can tell
        return True
    return state not in ("Z", "X")


def _stack_info(cluster: LocalCluster, components: list, restarts: dict[str, int]) -> dict:
    """What ``stack.json`` holds: where everything listens, the PIDs to stop, each component's restarts."""
    return {
        "pid": os.getpid(),
        "kubeconfig": str(KUBECONFIG),
        "api_server": cluster.control_plane.server,
        "s3_endpoint": cluster.s3.endpoint,
        "s3_access_key": cluster.s3.access_key,
        "s3_secret_key": cluster.s3.secret_key,
        "bucket": cluster.s3.bucket,
        "uploader": next((c.url for c in components if c.name == "uploader"), None),
        "components": {c.name: {"pid": c.process.pid, "url": c.url, "restarts": restarts.get(c.name, 0)}
                       for c in components},
        "pids": cluster.pids() + [c.process.pid for c in components],
        "ports": cluster.ports() + [c.port for c in components if c.port],
    }


def _write_stack(info: dict) -> None:
    STACK_FILE.write_text(json.dumps(info, indent=2))
    STACK_FILE.chmod(0o600)  # it holds the local S3 credentials


def serve() -> int:
    """Run the stack in the foreground until SIGTERM/SIGINT; write ``stack.json`` when ready.

    Like a kubelet with ``restartPolicy: Always``, a component (operator or uploader)
    that exits is started again after a back-off of 1, 2, 4 ... 30 s (reset once it has
    run for a minute); ``stack.json`` then names the new process and counts the restarts.
    """
    stop = stop_requested()
    cluster = LocalCluster(STATE / "cluster", Binaries.provision())
    components = []
    restarts: dict[str, int] = {}
    backoff: dict[str, int] = {}  # consecutive deaths within a minute of starting
    started_at: dict[str, float] = {}
    due: dict[str, float] = {}  # when a dead component is started again
    try:
        cluster.start()
        shutil.copy(cluster.kubeconfig, KUBECONFIG)
        components = start_components(cluster, STATE / "logs", uploader_port=UPLOADER_PORT)
        started_at = {c.name: time.monotonic() for c in components}
        _write_stack(_stack_info(cluster, components, restarts))
        while not stop.is_set():
            for i, c in enumerate(components):
                if c.process.alive():
                    continue
                now = time.monotonic()
                if c.name not in due:
                    c.process.stop()  # stragglers of its process group (gunicorn's worker)
                    # 1, 2, 4 ... 30 s while it keeps dying within a minute of starting; 1 s after a longer run
                    failures = backoff.get(c.name, 0) if now - started_at[c.name] < 60 else 0
                    backoff[c.name] = failures + 1
                    due[c.name] = now + min(2 ** failures, 30)
                    print(f"{c.name} exited with code {c.process.popen.returncode}; starting it again in "
                          f"{due[c.name] - now:.0f} s (log {STATE / 'logs' / (c.name + '.log')})",
                          file=sys.stderr, flush=True)
                elif now >= due[c.name]:
                    del due[c.name]
                    restarts[c.name] = restarts.get(c.name, 0) + 1
                    started_at[c.name] = now
                    try:
                        components[i] = start_component(cluster, c.name, STATE / "logs", UPLOADER_PORT)
                    except StartupError as e:
                        print(f"{c.name} did not start again: {e}", file=sys.stderr, flush=True)
                        continue
                    print(f"{c.name} started again (pid {components[i].process.pid}, restart {restarts[c.name]})",
                          file=sys.stderr, flush=True)
                    _write_stack(_stack_info(cluster, components, restarts))
            time.sleep(1)
    finally:
        for c in reversed(components):
            c.process.stop()
        cluster.stop()
        STACK_FILE.unlink(missing_ok=True)
    return 0


def serve_real() -> int:
    """``serve --node real``: :func:`devcluster.nodeserve.serve` with this stack's state and port."""
    from .nodeserve import serve as serve_node

    try:
        return serve_node(STATE, UPLOADER_PORT, _write_stack)
    finally:
        STACK_FILE.unlink(missing_ok=True)


def up(timeout: float, node: str = "dev") -> int:
    """Start ``serve`` detached; return once it is ready (0) or has failed (1).

    ``node="real"``: the chart on a real node (:mod:`devcluster.nodeserve`) instead of
    the processes on the development node.
    """
    current = _read_stack()
    if current and _alive(current["pid"]):
        print(f"already up (pid {current['pid']}); `make down` first")
        return 0
    if STATE.exists():
        shutil.rmtree(STATE)
    (STATE / "logs").mkdir(parents=True)
    # Build (or find) the binaries in the foreground so their progress shows.
    Binaries.provision()
    log = open(STATE / "logs" / "stack.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "devcluster", "serve", "--node", node], cwd=STATE, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    if node == "real":
        print("building the images, starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler, "
              "containerd, kubelet, kube-proxy and CoreDNS, then helm install of the chart ...", flush=True)
    else:
        print("starting etcd, kube-apiserver, kube-controller-manager, S3 server, development node, "
              "operator and uploader ...", flush=True)
    while time.monotonic() < deadline:
        info = _read_stack()
        if info:
            print(f"up. uploader:   {info['uploader'] or '(not started)'}")
            print(f"    kubeconfig: {info['kubeconfig']}  (export KUBECONFIG={info['kubeconfig']})")
            print(f"    API server: {info['api_server']}   S3: http://{info['s3_endpoint']} bucket {info['bucket']}")
            print(f"    logs:       {STATE / 'logs'} and {STATE / 'cluster' / 'logs'}")
            return 0
        if proc.poll() is not None:
            print(f"the stack failed to start; log {STATE / 'logs' / 'stack.log'}:", file=sys.stderr)
            print("\n".join((STATE / "logs" / "stack.log").read_text(errors="replace").splitlines()[-30:]),
                  file=sys.stderr)
            return 1
        time.sleep(0.5)
    print("timed out waiting for the stack; see .local/logs/stack.log", file=sys.stderr)
    os.killpg(proc.pid, signal.SIGTERM)
    return 1


def down(timeout: float = 90.0) -> int:
    """Stop the stack started by ``up``; 1 if anything it started is still running."""
    info = _read_stack()
    if not info:
        print("not running")
        return 0
    pid = info["pid"]
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.3)
    left = [p for p in [pid, *info["pids"]] if _alive(p)]
    for p in left:
        try:
            os.killpg(p, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    STACK_FILE.unlink(missing_ok=True)
    listening = [p for p in info.get("ports", []) if port_is_listening(p)]
    if left or listening:
        print(f"killed leftover processes {left}; ports still listening: {listening}", file=sys.stderr)
        return 1
    print("down.")
    return 0


def put(path: Path, key: str) -> int:
    """Upload a local file into the running stack's bucket (for ThumbnailJobs applied with kubectl)."""
    from minio import Minio

    if not path.is_file():
        print(f"{path}: no such file", file=sys.stderr)
        return 2
    info = _read_stack()
    if not info or not _alive(info["pid"]):
        print("not running; `make up` first", file=sys.stderr)
        return 1
    s3 = Minio(info["s3_endpoint"], access_key=info["s3_access_key"], secret_key=info["s3_secret_key"],
               secure=False, region="us-east-1")
    s3.fput_object(info["bucket"], key, str(path))
    print(f"s3://{info['bucket']}/{key} ({path.stat().st_size} bytes)")
    return 0


def status() -> int:
    """Print the running stack's ``stack.json`` with the S3 secret key masked and whether each
    component is running; 1 when the stack is not running.

    The key stays readable in ``.local/stack.json`` (mode 600) for whoever needs it.
    """
    info = _read_stack()
    if info and _alive(info["pid"]):
        shown = {k: ("****" if k == "s3_secret_key" else v) for k, v in info.items()}
        for component in shown.get("components", {}).values():
            component["running"] = _alive(component["pid"])  # false while it waits to be started again
        print(json.dumps(shown, indent=2))
        return 0
    print("not running")
    return 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devcluster", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="start the stack in the background")
    p_up.add_argument("--timeout", type=float, default=300)
    p_up.add_argument("--node", choices=("dev", "real"), default="dev",
                      help="dev: pods as processes (fast); real: containerd, kubelet and the chart (root)")
    sub.add_parser("down", help="stop the stack")
    sub.add_parser("status", help="show the running stack")
    p_put = sub.add_parser("put", help="upload a file into the stack's bucket")
    p_put.add_argument("file", type=Path)
    p_put.add_argument("key")
    p_serve = sub.add_parser("serve", help="run the stack in the foreground (used by up)")
    p_serve.add_argument("--node", choices=("dev", "real"), default="dev")
    args = parser.parse_args(argv)
    code = {"up": lambda: up(args.timeout, args.node), "down": down, "status": status,
            "serve": lambda: serve_real() if args.node == "real" else serve(),
            "put": lambda: put(args.file, args.key)}[args.cmd]()
    sys.exit(code)


if __name__ == "__main__":
    main()
