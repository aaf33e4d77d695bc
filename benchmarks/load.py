"""Load benchmark: the upload API under wrk, a lone upload's latency, and the drain rate.

Starts a local cluster (API server, S3 server, dev node) and, for each mode, an
uploader (and an operator for the end-to-end figures). Figures are printed,
never asserted; every mode is measured in the same run, so the comparison holds
on whatever machine runs it.

1. **POST throughput.** ``wrk`` (Debian's package; ``make bench`` installs it)
   POSTs a 112 KB photo (``rocket.jpg``) as the raw body from ``--clients``
   connections for ``--seconds``, against an uploader with one gunicorn worker
   (today's default) and with ``--workers``, in the order 1, N, N, 1. Printed: requests/s, p50 and p99
   latency, non-2xx answers, and the CPU seconds each process used meanwhile
   (from ``/proc/<pid>/stat``), so it shows where the CPU goes on these cores.
   A third run samples one worker with ``py-spy`` (``--gil``: only samples holding the GIL,
   i.e. Python's own CPU; ``--nonblocking``: the worker is never paused) and prints the share
   of samples by the uploader function and the library it was in.
2. **A lone upload at idle.** ``--lone`` uploads of a 60 KB photo
   (``grace_hopper.jpg``), one at a time, each timed from the POST until
   ``GET /v1/jobs/{id}`` says ``succeeded`` (polled every 20 ms): p50 and p99.
3. **Drain rate.** ``--drain`` uploads of the same photo, sent as fast as 8
   clients can, then timed until every one has succeeded: jobs/s from the
   first POST to the last success (the job list read every 0.25 s).

2 and 3 run twice: today's mode (``BATCH_MAX_ITEMS=1``, one gunicorn worker) and
batches of ``--batch`` with ``--workers`` workers, in the same run.

``--node real`` measures 1 (without the CPU split and the profile), 2 and 3 on the real node
instead: kubelet and containerd, the images of hack/images.sh, the chart installed with
``helm install`` (root and a Docker engine, as ``make up NODE=real``; ``make bench NODE=real``).

    python benchmarks/load.py [--node dev|real] [--seconds 10] [--clients 16] [--workers 4] [--lone 20]
                              [--drain 300] [--batch 20]
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from devcluster.binaries import Binaries
from devcluster.components import Component, ensure_s3_secret, install_crd, start_operator, start_uploader
from devcluster.stack import LocalCluster
from thumbnail_operator.settings import OperatorSettings

PHOTOS = Path(__file__).resolve().parents[1] / "tests" / "data" / "photos"
POST_IMAGE = PHOTOS / "rocket.jpg"  # 112,525 bytes
DRAIN_IMAGE = PHOTOS / "grace_hopper.jpg"  # 61,306 bytes
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

WRK_SCRIPT = """
local f = io.open(os.getenv("BENCH_IMAGE"), "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/octet-stream"
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its reaped children, seconds (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / CLOCK_TICKS


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").iterdir():
            todo += [int(c) for c in (task / "children").read_text().split()]
    return out


def cpu_by_process(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far per named process tree (a gunicorn master with its workers counts as one)."""
    out = {}
    for name, pid in pids.items():
        total = 0.0
        for p in process_tree(pid):
            try:
                total += cpu_seconds(p)
            except (FileNotFoundError, ProcessLookupError):
                pass
        out[name] = total
    return out


def parse_wrk(text: str) -> dict[str, float]:
    """Requests/s, p50/p99 latency (ms) and non-2xx/3xx count from ``wrk --latency`` output."""
    def ms(value: str) -> float:
        number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
        return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    p50 = ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))
    p99 = ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors:.*", text)
    return {"rps": rps, "p50": p50, "p99": p99, "non2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": errors.group(0) if errors else ""}


def post_throughput(cluster: LocalCluster, tmp: Path, workers: int, args: argparse.Namespace) -> dict:
    """One wrk run against a fresh uploader with ``workers`` gunicorn workers; prints one row and the
    CPU split, returns wrk's figures (:func:`parse_wrk`)."""
    up = start_uploader(cluster, tmp / f"uploader-{workers}", UPLOADER_WORKERS=str(workers))
    try:
        pids = {"uploader": up.process.pid, **{p.name: p.pid for p in cluster.control_plane.processes},
                "s3": cluster.s3.process.pid}
        wrk(up.url, tmp, clients=4, seconds=2)  # warm-up
        before = cpu_by_process(pids)
        r = wrk(up.url, tmp, args.clients, args.seconds)
        after = cpu_by_process(pids)
    finally:
        up.process.stop()
    split = ", ".join(f"{name} {after[name] - before[name]:.1f}" for name in sorted(
        pids, key=lambda n: before[n] - after[n]))
    print_wrk(workers, r)
    print(f"      CPU seconds over {args.seconds} s on {os.cpu_count()} cores: {split}")
    return r


def wrk(url: str, tmp: Path, clients: int, seconds: int) -> dict:
    """One ``wrk --latency`` run POSTing :data:`POST_IMAGE` to ``url``/v1/jobs from ``clients``
    connections for ``seconds``; :func:`parse_wrk`'s figures."""
    script = tmp / "post.lua"
    script.write_text(WRK_SCRIPT)
    return parse_wrk(subprocess.run(["wrk", "-t2", f"-c{clients}", f"-d{seconds}s", "--latency", "-s",
                                     str(script), f"{url}/v1/jobs"], env={**os.environ, "BENCH_IMAGE": str(POST_IMAGE)},
                                    capture_output=True, text=True, check=True).stdout)


def print_wrk(workers: int, r: dict) -> None:
    """One row of :func:`wrk`'s figures."""
    print(f"  {workers:>2} worker(s): {r['rps']:7.1f} req/s  p50 {r['p50']:6.1f} ms  p99 {r['p99']:6.1f} ms  "
          f"non-2xx {r['non2xx']}  {r['socket_errors']}")


def compare_workers(cluster: LocalCluster, tmp: Path, args: argparse.Namespace) -> None:
    """One worker against ``args.workers``, in the order 1, N, N, 1 (so a drift of the machine or of the
    growing store over the run weighs on both alike); prints each mode's mean."""
    runs: dict[int, list[dict]] = {1: [], args.workers: []}
    for workers in (1, args.workers, args.workers, 1):
        runs[workers].append(post_throughput(cluster, tmp, workers, args))
    for workers, results in runs.items():
        mean = {k: statistics.mean(r[k] for r in results) for k in ("rps", "p50", "p99")}
        print(f"  mean of {len(results)}, {workers:>2} worker(s): {mean['rps']:7.1f} req/s  "
              f"p50 {mean['p50']:6.1f} ms  p99 {mean['p99']:6.1f} ms")


def profile_summary(raw: str, top: int = 12) -> list[tuple[float, str]]:
    """Share of samples (0..1) by "uploader function -> library it was in", from py-spy's raw
    (collapsed-stack) output: one ``frame;frame;... count`` line per distinct stack, root first,
    each frame ``function (file:line)``."""
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.splitlines():
        stack, n = line.rsplit(" ", 1)
        files = [(m.group(1), m.group(2)) for m in re.finditer(r"(?:^|;)([^;]*) \(([^;]*):\d+\)", stack)]
        ours = [i for i, (_, f) in enumerate(files) if f.startswith("uploader/")]
        if not ours:
            libraries = [f.split("/")[0] for _, f in files if "/" in f]
            counts[f"outside the app: {libraries[-1] if libraries else '?'}"] += int(n)
            continue
        function, file = files[ours[-1]]
        below = [f.split("/")[0].removesuffix(".py") for _, f in files[ours[-1] + 1:]]
        # Through to the library doing the work: pydantic wraps kubernetes' calls, thumbnailer wraps minio.
        library = next((b for b in below if b not in ("pydantic", "thumbnailer")), "its own code")
        counts[f"{file}:{function} -> {library}"] += int(n)
    total = sum(counts.values()) or 1
    return [(n / total, what) for what, n in counts.most_common(top)]


def profile_worker(cluster: LocalCluster, tmp: Path, args: argparse.Namespace) -> None:
    """A wrk run against one worker sampled by py-spy; prints where its Python CPU goes."""
    up = start_uploader(cluster, tmp / "uploader-profiled", UPLOADER_WORKERS="1")
    try:
        master = up.process.pid
        worker = int(Path(f"/proc/{master}/task/{master}/children").read_text().split()[0])
        out = tmp / "profile.txt"
        spy = subprocess.Popen(["py-spy", "record", "--gil", "--nonblocking", "-r", "100", "-d", str(args.seconds),
                                "-f", "raw", "-o", str(out), "-p", str(worker)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wrk(up.url, tmp, args.clients, args.seconds)
        spy.wait(timeout=args.seconds + 30)
    finally:
        up.process.stop()
    print(f"  where one worker's Python CPU goes (py-spy --gil, {args.seconds} s):")
    for share, what in profile_summary(out.read_text()):
        print(f"    {share * 100:5.1f}%  {what}")


def upload(url: str, path: Path) -> str:
    """POST ``path`` as the raw body; returns the job ID."""
    resp = requests.post(f"{url}/v1/jobs", data=path.read_bytes(), timeout=60,
                         headers={"Content-Type": "application/octet-stream"})
    resp.raise_for_status()
    return resp.json()["id"]


def wait_succeeded(url: str, job_id: str, timeout: float = 120) -> None:
    """Poll ``GET /v1/jobs/{id}`` every 20 ms until ``succeeded``; raises on ``failed`` or timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = requests.get(f"{url}/v1/jobs/{job_id}", timeout=10).json()
        if body["status"] == "succeeded":
            return
        if body["status"] == "failed":
            raise RuntimeError(f"job {job_id} failed: {body.get('reason')}: {body.get('message')}")
        time.sleep(0.02)
    raise TimeoutError(f"job {job_id} did not succeed within {timeout} s")


def wait_all_succeeded(url: str, ids: list[str], timeout: float = 1800) -> None:
    """Read the job list (``GET /v1/jobs``, every page of 500) every 0.25 s until every one of ``ids``
    says ``succeeded``; raises on ``failed`` or timeout. One list instead of a GET per job: polled
    one by one, the 300 jobs' own GETs were about 2 requests per job, on the same cores."""
    deadline, waiting = time.monotonic() + timeout, set(ids)
    while time.monotonic() < deadline:
        token = ""
        while True:
            page = requests.get(f"{url}/v1/jobs", params={"limit": 500, **({"continue": token} if token else {})},
                                timeout=30).json()
            for job in page["items"]:
                if job["id"] in waiting and job["status"] == "failed":
                    raise RuntimeError(f"job {job['id']} failed: {job.get('reason')}: {job.get('message')}")
                if job["status"] == "succeeded":
                    waiting.discard(job["id"])
            token = page.get("continue")
            if not token:
                break
        if not waiting:
            return
        time.sleep(0.25)
    raise TimeoutError(f"{len(waiting)} jobs did not succeed within {timeout} s")


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def lone_and_drain(url: str, mode: str, args: argparse.Namespace) -> None:
    """``args.lone`` uploads one at a time (each timed to ``succeeded``), then ``args.drain`` uploads
    POSTed by 8 clients and timed until all have succeeded; prints two rows."""
    wait_succeeded(url, upload(url, DRAIN_IMAGE), timeout=300)  # warm-up, untimed: connections, a new leader
    latencies = []
    for _ in range(args.lone):
        t0 = time.perf_counter()
        wait_succeeded(url, upload(url, DRAIN_IMAGE))
        latencies.append(time.perf_counter() - t0)
        time.sleep(0.5)  # idle between uploads: each one starts alone
    print(f"  {mode}: lone upload -> succeeded: p50 {statistics.median(latencies):.2f} s  "
          f"p99 {percentile(latencies, 0.99):.2f} s  ({args.lone} uploads)")
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda _: upload(url, DRAIN_IMAGE), range(args.drain)))
    posted = time.perf_counter() - t0
    wait_all_succeeded(url, ids)
    elapsed = time.perf_counter() - t0
    print(f"  {mode}: drain of {args.drain} uploads: {args.drain / elapsed:.1f} jobs/s "
          f"({elapsed:.1f} s; the POSTs took {posted:.1f} s)")


def end_to_end(cluster: LocalCluster, tmp: Path, mode: str, operator_env: dict[str, str], workers: int,
               args: argparse.Namespace) -> None:
    """Lone-upload latency and drain rate (:func:`lone_and_drain`) with an operator configured by
    ``operator_env`` and an uploader of ``workers`` gunicorn workers."""
    # The operator's own resync period (the test fixtures' 5 s would add a full pass every 5 s).
    resync = str(OperatorSettings.model_fields["resync_seconds"].default)
    operator = start_operator(cluster, tmp / f"operator-{len(list(tmp.glob('operator-*')))}",
                              **{"RESYNC_SECONDS": resync, **operator_env})
    up: Component | None = None
    try:
        up = start_uploader(cluster, tmp / f"uploader-e2e-{len(list(tmp.glob('uploader-e2e-*')))}",
                            UPLOADER_WORKERS=str(workers))
        lone_and_drain(up.url, mode, args)
    finally:
        # Deleted while this mode's operator still runs (its finalizer cleans up each one), and
        # waited for, so that the next mode does not pay for this one's deletions.
        cluster.kubectl("delete", "thumbnailjobs", "--all", "--wait=true", "--timeout=600s", check=False, timeout=660)
        if up is not None:
            up.process.stop()
        operator.process.stop()


def on_real_node(tmp: Path, args: argparse.Namespace) -> None:
    """The same figures on the real node (:class:`devcluster.nodestack.NodeCluster`: kubelet,
    containerd, the images of hack/images.sh, the chart installed with ``helm install``), each mode
    set by ``helm upgrade`` of ``uploader.workers`` and ``operator.batchMaxItems``. The uploader is
    reached at its ClusterIP (kube-proxy); CPU is not split by process (the pods are containers)."""
    from devcluster.chartinstall import CHART
    from devcluster.nodeserve import build_images
    from devcluster.nodestack import NodeCluster

    tags, base = build_images()
    cluster = NodeCluster(tmp / "node", Binaries.provision(quiet=True))
    cluster.start(tags, base)
    try:
        inst = cluster.install()

        def configure(workers: int, batch: int, operators: int = 2) -> None:
            cluster.helm("upgrade", inst.release, str(CHART), "--namespace", inst.namespace, *inst.values,
                         "--set", f"uploader.workers={workers}", "--set", f"operator.batchMaxItems={batch}",
                         "--set", f"operator.replicas={operators}", "--wait", "--timeout", "4m")
            for deployment in ("operator", "uploader"):
                cluster.kubectl("-n", inst.namespace, "rollout", "status",
                                f"deployment/{inst.release}-thumbnailer-{deployment}", "--timeout=180s")

        def clear() -> None:
            """Delete every ThumbnailJob, then their Jobs and pods (the garbage collector's work),
            and wait for both, so that the next mode does not pay for this one."""
            for what in (["thumbnailjobs"], ["jobs", "--cascade=foreground"]):
                cluster.kubectl("-n", inst.namespace, "delete", *what, "--all", "--wait=true", "--timeout=600s",
                                check=False, timeout=660)

        print(f"Real node: POST {POST_IMAGE.name} ({POST_IMAGE.stat().st_size} bytes), {args.clients} clients, "
              f"{args.seconds} s (wrk), to the uploader's ClusterIP, the operator scaled to 0 (as on the dev node):")
        for workers in (1, args.workers):
            configure(workers, 1, operators=0)
            wrk(inst.uploader, tmp, clients=4, seconds=2)  # warm-up
            print_wrk(workers, wrk(inst.uploader, tmp, args.clients, args.seconds))
        clear()
        print(f"Real node, end to end, {DRAIN_IMAGE.name} ({DRAIN_IMAGE.stat().st_size} bytes):")
        for mode, workers, batch in (("one Job per ThumbnailJob, 1 worker", 1, 1),
                                     (f"batches of {args.batch}, {args.workers} workers", args.workers, args.batch)):
            configure(workers, batch)
            try:
                lone_and_drain(inst.uploader, mode, args)
            finally:
                clear()
    finally:
        cluster.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--clients", type=int, default=16, help="wrk connections")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers for the compared mode")
    parser.add_argument("--lone", type=int, default=20, help="lone uploads timed one at a time")
    parser.add_argument("--drain", type=int, default=300, help="uploads in the drain run (0 skips it)")
    parser.add_argument("--batch", type=int, default=20, help="BATCH_MAX_ITEMS of the compared mode")
    parser.add_argument("--node", choices=("dev", "real"), default="dev",
                        help="dev: the development node (processes); real: kubelet and containerd (root, Docker)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk (make bench does)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        if args.node == "real":
            on_real_node(tmp_path, args)
            return 0
        cluster = LocalCluster(tmp_path / "cluster", Binaries.provision(quiet=True)).start()
        try:
            install_crd(cluster)
            ensure_s3_secret(cluster, "default")
            print(f"POST {POST_IMAGE.name} ({POST_IMAGE.stat().st_size} bytes), {args.clients} clients, "
                  f"{args.seconds} s (wrk):")
            compare_workers(cluster, tmp_path, args)
            if shutil.which("py-spy"):
                profile_worker(cluster, tmp_path, args)
            else:
                print("  (py-spy is not installed: pip install py-spy to see where the CPU goes)")
            cluster.kubectl("delete", "thumbnailjobs", "--all", "--wait=false", check=False, timeout=300)
            if args.lone or args.drain:
                print(f"End to end, {DRAIN_IMAGE.name} ({DRAIN_IMAGE.stat().st_size} bytes):")
                end_to_end(cluster, tmp_path, "one Job per ThumbnailJob, 1 worker", {"BATCH_MAX_ITEMS": "1"}, 1, args)
                end_to_end(cluster, tmp_path, f"batches of {args.batch}, {args.workers} workers",
                           {"BATCH_MAX_ITEMS": str(args.batch)}, args.workers, args)
        finally:
            cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
