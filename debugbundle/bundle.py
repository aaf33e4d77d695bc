"""One tarball with what it takes to debug a thumbnailer installation in one namespace.

``python -m debugbundle --namespace NS [--release NAME] [--output PATH]
[--kubeconfig FILE] [--context NAME] [--helm PATH]`` (or ``make debug-bundle NAMESPACE=NS``)
reads the cluster with the kubernetes client (kubeconfig resolved as kubectl does:
``--kubeconfig``, else ``$KUBECONFIG``, else ``~/.kube/config``; in a pod, its
ServiceAccount) and the Helm release with the ``helm`` CLI, and writes
``thumbnailer-debug-<ns>-<UTC timestamp>.tar.gz``. Everything sits under one
top directory whose first file, ``README.txt``, lists what was collected and
every step that failed, with its error.

Every step is independent: a forbidden list, a missing CRD, no ``helm`` on
``PATH`` or an unreachable cluster is recorded and the other steps go on. The
exit code is 0 whenever the tarball was written.

Redaction (nothing here reads Secrets):

* Pods, Jobs, Deployments: ``env`` entries with a literal ``value`` whose name
  looks secret (contains KEY, SECRET, TOKEN, PASSWORD, PASSWD or CREDENTIAL) get
  ``REDACTED``, except the names in :data:`NOT_SECRET_ENV` (the resizer's object
  keys, the name of the credentials Secret); references (``valueFrom``) are
  kept, they name a Secret and key but hold no data. ``managedFields`` and the ``last-applied-configuration``
  annotation (a copy of the object, env included) are dropped.
* Helm values (``helm get values --all``): any key whose name contains secret,
  password, passwd, token, key or credential (any case) has its value replaced
  by ``REDACTED`` (every leaf below it, for a map or list), except keys that only
  *name* a Secret (:data:`NOT_SECRET_KEYS`, e.g. ``existingSecret``). Empty
  values, null and booleans stay as they are: they hide nothing, and an empty
  ``s3.secretKey`` tells the reader the chart generated one.
* Finally every value redacted under a name that says secret, password, token
  or credential (not merely *key*: access key IDs are often plain words, such
  as the chart's default ``thumbnailer``), of at least
  :data:`MIN_SCRUB_LENGTH` characters, is also replaced in every other file of
  the bundle (for instance if a log line repeated it).
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from thumbnailer import api

REDACTED = "REDACTED"
#: Env variable names whose literal values are never written (matched anywhere in the name, any case).
SECRET_ENV = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL", re.I)
#: Helm value keys whose values are never written (matched anywhere in the key, any case).
SECRET_VALUE_KEY = re.compile(r"secret|password|passwd|token|key|credential", re.I)
#: Env variable names that match :data:`SECRET_ENV` but hold no secret.
NOT_SECRET_ENV = frozenset(("SOURCE_KEY", "OUTPUT_KEY", "PREVIOUS_OUTPUT_KEY", "S3_CREDENTIALS_SECRET"))
#: Redacted values under names matching this are also scrubbed from every other file.
SCRUB_NAME = re.compile(r"secret|password|passwd|token|credential|private", re.I)
#: Helm value keys that match :data:`SECRET_VALUE_KEY` but hold the *name* of a Secret, not its data.
NOT_SECRET_KEYS = frozenset(k.lower() for k in (
    "existingSecret", "existingSecretName", "secretName", "credentialsSecret", "s3CredentialsSecret"))
#: Values shorter than this are not scrubbed from other files (too likely to hit ordinary text).
MIN_SCRUB_LENGTH = 8
#: Only the newest resizer pods' logs are collected (a busy namespace has thousands).
MAX_RESIZER_POD_LOGS = 50
#: Lines kept from the end of each container log.
LOG_TAIL_LINES = 10000
#: Pod labels that mark the components whose logs are collected.
COMPONENT_LABEL, COMPONENTS = "app.kubernetes.io/component", ("operator", "uploader", "minio")
RESIZER_LABEL, RESIZER_MANAGED_BY = api.LABEL_MANAGED_BY, api.MANAGED_BY
CHART_LABEL, APP_VERSION_LABEL = "helm.sh/chart", "app.kubernetes.io/version"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


# --- redaction (pure) ------------------------------------------------------------

def redact_env(obj: Any, secrets: set[str] | None = None) -> Any:
    """A deep copy of ``obj`` (any JSON-shaped Kubernetes object or list of them) in which
    every ``env`` entry with a literal ``value`` and a secret-looking name
    (:data:`SECRET_ENV`) has ``value: REDACTED``.

    Values redacted under a :data:`SCRUB_NAME` name are added to ``secrets`` (when given),
    for :func:`scrub`.
    """
    if isinstance(obj, list):
        return [redact_env(v, secrets) for v in obj]
    if not isinstance(obj, dict):
        return obj
    out = {}
    for k, v in obj.items():
        if k == "env" and isinstance(v, list):
            out[k] = [_redact_env_entry(e, secrets) for e in v]
        else:
            out[k] = redact_env(v, secrets)
    return out


def _redact_env_entry(entry: Any, secrets: set[str] | None) -> Any:
    if not isinstance(entry, dict):
        return entry
    entry = dict(entry)
    value, name = entry.get("value"), str(entry.get("name", ""))
    if value not in (None, "") and SECRET_ENV.search(name) and name.upper() not in NOT_SECRET_ENV:
        if secrets is not None and SCRUB_NAME.search(name):
            secrets.add(str(value))
        entry["value"] = REDACTED
    return entry


def is_secret_value_key(key: str) -> bool:
    """Whether a Helm value named ``key`` holds secret data (see :data:`SECRET_VALUE_KEY`,
    :data:`NOT_SECRET_KEYS`)."""
    return bool(SECRET_VALUE_KEY.search(key)) and key.lower() not in NOT_SECRET_KEYS


def redact_values(values: Any, secrets: set[str] | None = None) -> Any:
    """A deep copy of Helm ``values`` (dicts, lists, scalars) with the value of every
    secret-looking key replaced by ``REDACTED`` (every leaf below it, for a map or list).

    Empty strings, None and booleans are kept. Values redacted under a :data:`SCRUB_NAME`
    key are added to ``secrets``.
    """
    if isinstance(values, dict):
        return {k: (_redact_all(v, secrets if SCRUB_NAME.search(str(k)) else None) if is_secret_value_key(str(k))
                    else redact_values(v, secrets))
                for k, v in values.items()}
    if isinstance(values, list):
        return [redact_values(v, secrets) for v in values]
    return values


def _redact_all(value: Any, secrets: set[str] | None) -> Any:
    if isinstance(value, dict):
        return {k: _redact_all(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_all(v, secrets) for v in value]
    if value is None or value == "" or isinstance(value, bool):
        return value
    if secrets is not None:
        secrets.add(str(value))
    return REDACTED


def strip_noise(obj: dict) -> dict:
    """``obj`` without ``metadata.managedFields`` and the ``last-applied-configuration``
    annotation (which repeats the whole object, env values included). Returns a copy."""
    obj = dict(obj)
    meta = dict(obj.get("metadata") or {})
    meta.pop("managedFields", None)
    if LAST_APPLIED in (meta.get("annotations") or {}):
        meta["annotations"] = {k: v for k, v in meta["annotations"].items() if k != LAST_APPLIED}
    obj["metadata"] = meta
    return obj


def scrub(data: bytes, secrets: Iterable[str]) -> bytes:
    """``data`` with every occurrence of each secret (at least :data:`MIN_SCRUB_LENGTH`
    characters) replaced by ``REDACTED``."""
    for s in sorted({s for s in secrets if len(s) >= MIN_SCRUB_LENGTH}, key=len, reverse=True):
        data = data.replace(s.encode(), REDACTED.encode())
    return data


# --- summaries (pure) --------------------------------------------------------------

def _parse_time(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def age(created: str | None, now: datetime.datetime) -> str:
    """kubectl's short age (``45s``, ``12m``, ``5h``, ``3d``) of an RFC 3339 timestamp; ``<unknown>``."""
    t = _parse_time(created)
    if t is None:
        return "<unknown>"
    seconds = max(0, int((now - t).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "m" else 1):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def table(header: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns separated by three spaces, like ``kubectl get``."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["   ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]]
    return "\n".join(lines) + "\n"


def thumbnailjob_table(items: list[dict], now: datetime.datetime) -> str:
    """The ``kubectl get thumbnailjobs``-like summary: NAME, PHASE, REASON, JOB (``status.jobName``:
    the Job, single or batch, that serves it), AGE, MESSAGE."""
    rows = []
    for tj in sorted(items, key=lambda o: o["metadata"].get("creationTimestamp") or ""):
        status = tj.get("status") or {}
        rows.append([tj["metadata"]["name"], status.get("phase") or "<none>", status.get("reason") or "<none>",
                     status.get("jobName") or "<none>", age(tj["metadata"].get("creationTimestamp"), now),
                     (status.get("message") or "")[:200]])
    return table(["NAME", "PHASE", "REASON", "JOB", "AGE", "MESSAGE"], rows) if rows else "No ThumbnailJobs.\n"


def batch_table(jobs: list[dict], pods: list[dict]) -> str:
    """One row per item of every batch Job (annotation :data:`~thumbnailer.api.ANNOTATION_BATCH_ITEMS`):
    JOB, ITEM (index), THUMBNAILJOB, OUTCOME, DETAIL.

    The outcome is the item's line in the report of the Job's newest pod that has one
    (:func:`~thumbnailer.api.parse_batch_report`); an item without a line is ``running`` while
    the Job runs and ``unfinished`` after (the operator queues it again).
    """
    reports: dict[str, list[tuple[str, dict[int, tuple[str, str]]]]] = {}
    for pod in pods:
        job_name = (pod["metadata"].get("labels") or {}).get("batch.kubernetes.io/job-name")
        for c in (pod.get("status") or {}).get("containerStatuses") or []:
            report = api.parse_batch_report(((c.get("state") or {}).get("terminated") or {}).get("message") or "")
            if job_name and report is not None:
                reports.setdefault(job_name, []).append((pod["metadata"].get("creationTimestamp") or "", report))
    rows = []
    for job in sorted(jobs, key=lambda j: j["metadata"].get("creationTimestamp") or ""):
        members = api.batch_members(job)
        name = job["metadata"]["name"]
        newest_first = [r for _, r in sorted(reports.get(name, []), key=lambda x: x[0], reverse=True)]
        done = any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
                   for c in (job.get("status") or {}).get("conditions") or [])
        for index, member in enumerate(members):
            line = next((r[index] for r in newest_first if index in r), None)
            outcome, detail = line or ("unfinished" if done else "running", "")
            rows.append([name, str(index), member.get("name", "?"), outcome, detail[:200]])
    return table(["JOB", "ITEM", "THUMBNAILJOB", "OUTCOME", "DETAIL"], rows) if rows else "No batch Jobs.\n"


def event_time(event: dict) -> str:
    """The time an Event (core/v1 shape) last happened, as sortable RFC 3339 (seconds)."""
    t = (event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
         or (event.get("metadata") or {}).get("creationTimestamp") or "")
    parsed = _parse_time(t)
    return parsed.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if parsed else ""


def sort_events(events: list[dict]) -> list[dict]:
    """Events oldest first (by :func:`event_time`)."""
    return sorted(events, key=event_time)


def events_table(events: list[dict]) -> str:
    """TIME, TYPE, REASON, OBJECT, COUNT, MESSAGE, one line per Event (already sorted)."""
    rows = []
    for e in events:
        obj = e.get("involvedObject") or {}
        rows.append([event_time(e), e.get("type") or "", e.get("reason") or "",
                     f"{(obj.get('kind') or '').lower()}/{obj.get('name') or ''}", str(e.get("count") or 1),
                     " ".join((e.get("message") or "").split())])
    return table(["TIME", "TYPE", "REASON", "OBJECT", "COUNT", "MESSAGE"], rows) if rows else "No events.\n"


def chart_from_labels(deployments: list[dict]) -> dict[str, str] | None:
    """``{"chart": "thumbnailer-0.1.0", "version": "0.1.0", "appVersion": ...}`` from the
    ``helm.sh/chart`` label of the first Deployment that has one, else None."""
    for d in deployments:
        labels = d["metadata"].get("labels") or {}
        chart = labels.get(CHART_LABEL)
        if chart:
            name, _, version = chart.rpartition("-")
            return {"chart": chart, "name": name, "version": version,
                    "appVersion": labels.get(APP_VERSION_LABEL, ""), "source": f"label {CHART_LABEL}"}
    return None


def describe_error(e: BaseException) -> str:
    """One line for the README: an API error's status, reason and message, else the exception."""
    status = getattr(e, "status", None)
    if status is not None and hasattr(e, "body"):
        message = ""
        try:
            message = json.loads(e.body or "{}").get("message", "")
        except (ValueError, AttributeError):
            message = str(e.body or "")[:300]
        return f"HTTP {status} {getattr(e, 'reason', '')}: {message}".strip()
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}"[:500]


# --- the bundle -------------------------------------------------------------------

@dataclass
class Bundle:
    """What has been collected so far: files (path inside the bundle -> bytes), one line per
    step (``ok``/``FAILED``), and the secret values seen (scrubbed from every file at the end)."""

    namespace: str
    release: str | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    steps: list[tuple[str, str, str]] = field(default_factory=list)  # (status, step, detail)
    secrets: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    #: Shared between steps (e.g. the Helm release's chart version for versions.yaml).
    facts: dict[str, Any] = field(default_factory=dict)

    def add(self, path: str, content: str | bytes) -> None:
        """Add (or replace) the file ``path`` (relative, ``/``-separated)."""
        self.files[path] = content.encode() if isinstance(content, str) else content

    def add_yaml(self, path: str, obj: Any) -> None:
        """Add ``obj`` as a YAML file."""
        self.add(path, yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, allow_unicode=True))

    def ok(self, step: str, detail: str) -> None:
        self.steps.append(("ok", step, detail))

    def fail(self, step: str, error: str) -> None:
        self.steps.append(("FAILED", step, error))

    def run(self, step: str, fn: Callable[[], str | None]) -> None:
        """Run one collection step; its return value is the README detail. Any exception
        is recorded as the step's failure and never propagates."""
        try:
            detail = fn()
        except Exception as e:  # noqa: BLE001 - each step is independent by design
            self.fail(step, describe_error(e))
        else:
            self.ok(step, detail or "")

    @property
    def failures(self) -> list[tuple[str, str]]:
        return [(step, detail) for status, step, detail in self.steps if status == "FAILED"]

    def readme(self, created: datetime.datetime, context: dict[str, str]) -> str:
        """The README.txt text: what this is, the redaction rules, and every step's outcome."""
        lines = [
            "thumbnailer debug bundle",
            "========================",
            f"namespace:  {self.namespace}",
            f"release:    {self.release or '(every thumbnailer release in the namespace)'}",
            f"created:    {created.strftime('%Y-%m-%dT%H:%M:%SZ')}",
            *(f"{k + ':':<11} {v}" for k, v in context.items()),
            "",
            "Secrets are never read. Env values with secret-looking names (KEY, SECRET, TOKEN,",
            "PASSWORD, CREDENTIAL; not the resizer's SOURCE_KEY/OUTPUT_KEY) and Helm values under",
            "secret-looking keys (secret, password, token, key, credential; not existingSecret,",
            "which names a Secret) read REDACTED. Values redacted under secret/password/token/",
            "credential names are also replaced wherever else they appeared. Empty values stay",
            "empty (an empty s3.secretKey means the chart generated one).",
            "",
            f"Steps: {sum(s == 'ok' for s, _, _ in self.steps)} ok, {len(self.failures)} failed.",
            "",
        ]
        width = max((len(step) for _, step, _ in self.steps), default=10)
        for status, step, detail in self.steps:
            lines.append(f"{status:<7} {step:<{width}}  {detail}")
        if self.notes:
            lines += ["", "Notes:", *(f"- {n}" for n in self.notes)]
        lines += ["", "Files:", *(f"  {p}" for p in sorted(self.files))]
        return "\n".join(lines) + "\n"

    def write(self, output: Path, created: datetime.datetime, context: dict[str, str]) -> Path:
        """Write the .tar.gz at ``output``: ``<top>/README.txt`` first, then the other files
        sorted, each scrubbed of every secret seen. Raises OSError if it cannot be written."""
        top = output.name.removesuffix(".tar.gz").removesuffix(".tgz") or "thumbnailer-debug"
        files = {"README.txt": self.readme(created, context).encode(), **self.files}
        mtime = created.timestamp()
        tmp = output.with_name(output.name + ".partial")
        try:
            with tarfile.open(tmp, "w:gz") as tar:
                for path in ["README.txt", *sorted(p for p in files if p != "README.txt")]:
                    data = scrub(files[path], self.secrets)
                    info = tarfile.TarInfo(f"{top}/{path}")
                    info.size, info.mtime, info.mode = len(data), mtime, 0o644
                    tar.addfile(info, io.BytesIO(data))
            os.replace(tmp, output)
        finally:
            tmp.unlink(missing_ok=True)
        return output


# --- reading the cluster --------------------------------------------------------------

class KubeReader:
    """Read-only access to the cluster through the kubernetes client.

    Every method returns plain JSON-shaped data exactly as the API server sent it
    (camelCase keys, RFC 3339 strings), or bytes for logs; errors are the client's
    (``ApiException`` with ``status`` 403/404..., urllib3 connection errors).
    """

    def __init__(self, api_client: Any, timeout: float = 30.0):
        from kubernetes import client

        self.client, self.timeout = client, timeout
        self.api_client = api_client
        self.core = client.CoreV1Api(api_client)

    def _json(self, resp: Any) -> Any:
        return json.loads(resp.data)

    def server_version(self) -> dict:
        """``/version``: gitVersion, platform, ..."""
        return self._json(self.client.VersionApi(self.api_client).get_code(
            _preload_content=False, _request_timeout=self.timeout))

    def crd(self) -> dict:
        """The ThumbnailJob CustomResourceDefinition."""
        return self._json(self.client.ApiextensionsV1Api(self.api_client).read_custom_resource_definition(
            api.CRD_NAME, _preload_content=False, _request_timeout=self.timeout))

    def list(self, kind: str, namespace: str) -> list[dict]:
        """Items of ``kind`` (``thumbnailjobs``, ``events``, ``pods``, ``jobs``, ``deployments``,
        ``leases``) in ``namespace``."""
        c = self.client
        calls = {
            "thumbnailjobs": lambda **kw: c.CustomObjectsApi(self.api_client).list_namespaced_custom_object(
                api.GROUP, api.VERSION, namespace, api.PLURAL, **kw),
            "events": lambda **kw: self.core.list_namespaced_event(namespace, **kw),
            "pods": lambda **kw: self.core.list_namespaced_pod(namespace, **kw),
            "jobs": lambda **kw: c.BatchV1Api(self.api_client).list_namespaced_job(namespace, **kw),
            "deployments": lambda **kw: c.AppsV1Api(self.api_client).list_namespaced_deployment(namespace, **kw),
            "leases": lambda **kw: c.CoordinationV1Api(self.api_client).list_namespaced_lease(namespace, **kw),
        }
        return self._json(calls[kind](_preload_content=False, _request_timeout=self.timeout)).get("items") or []

    def pod_log(self, namespace: str, pod: str, container: str, previous: bool) -> bytes:
        """The container's log (its last :data:`LOG_TAIL_LINES` lines)."""
        return self.core.read_namespaced_pod_log(
            pod, namespace, container=container, previous=previous, tail_lines=LOG_TAIL_LINES,
            _preload_content=False, _request_timeout=self.timeout).data


def collect_versions(bundle: Bundle, kube: KubeReader | None) -> None:
    """``versions.yaml``: the tool, the cluster, the CRD and the chart, each part
    filled or replaced by its error (steps ``server version``, ``crd``, ``chart version``)."""
    versions: dict[str, Any] = {"tool": {"name": "thumbnailer", "version": tool_version(),
                                         "python": sys.version.split()[0]}}

    def server() -> str:
        v = kube.server_version()  # type: ignore[union-attr]
        versions["server"] = v
        return v.get("gitVersion", "")

    def crd() -> str:
        obj = kube.crd()  # type: ignore[union-attr]
        info = {
            "name": obj["metadata"]["name"],
            "generation": obj["metadata"].get("generation"),
            "served": [v["name"] for v in obj["spec"]["versions"] if v.get("served")],
            "storage": [v["name"] for v in obj["spec"]["versions"] if v.get("storage")],
            "storedVersions": (obj.get("status") or {}).get("storedVersions"),
            "chartLabel": (obj["metadata"].get("labels") or {}).get(CHART_LABEL),
        }
        versions["crd"] = info
        return f"{info['name']} generation {info['generation']}, served {info['served']}, stored {info['storedVersions']}"

    def chart() -> str:
        found = bundle.facts.get("helm_chart") or chart_from_labels(bundle.facts.get("deployments") or [])
        if not found:
            raise LookupError("no Helm release metadata and no Deployment with a helm.sh/chart label")
        versions["chart"] = found
        return f"{found.get('chart')} (app {found.get('appVersion')}, from {found.get('source')})"

    for step, fn in (("server version", server), ("crd", crd), ("chart version", chart)):
        if kube is None and step != "chart version":
            bundle.fail(step, "no cluster connection (see the kubeconfig step)")
            versions[step.split()[0]] = {"error": "no cluster connection"}
            continue
        before = len(bundle.failures)
        bundle.run(step, fn)
        if len(bundle.failures) > before:
            versions.setdefault(step.split()[0], {"error": bundle.failures[-1][1]})
    bundle.add_yaml("versions.yaml", versions)


def tool_version() -> str:
    """This package's installed version, or ``unknown``."""
    try:
        return metadata.version("thumbnailer")
    except metadata.PackageNotFoundError:
        return "unknown"


def collect_thumbnailjobs(bundle: Bundle, kube: KubeReader, now: datetime.datetime) -> str:
    """``thumbnailjobs.yaml`` (every ThumbnailJob with status) and ``thumbnailjobs.txt`` (summary)."""
    items = [strip_noise(o) for o in kube.list("thumbnailjobs", bundle.namespace)]
    bundle.add_yaml("thumbnailjobs.yaml", {"apiVersion": "v1", "kind": "List", "items": items})
    bundle.add("thumbnailjobs.txt", thumbnailjob_table(items, now))
    phases: dict[str, int] = {}
    for o in items:
        p = (o.get("status") or {}).get("phase") or "<none>"
        phases[p] = phases.get(p, 0) + 1
    return f"{len(items)} ThumbnailJobs " + (json.dumps(phases, sort_keys=True) if phases else "")


def collect_events(bundle: Bundle, kube: KubeReader) -> str:
    """``events.yaml`` and ``events.txt``, oldest first."""
    events = sort_events([strip_noise(e) for e in kube.list("events", bundle.namespace)])
    bundle.add_yaml("events.yaml", {"apiVersion": "v1", "kind": "List", "items": events})
    bundle.add("events.txt", events_table(events))
    return f"{len(events)} events"


def collect_objects(bundle: Bundle, kube: KubeReader, kind: str) -> str:
    """``<kind>.yaml`` (pods, jobs, deployments, leases) with secret-looking env values redacted."""
    items = [redact_env(strip_noise(o), bundle.secrets) for o in kube.list(kind, bundle.namespace)]
    bundle.facts[kind] = items
    bundle.add_yaml(f"{kind}.yaml", {"apiVersion": "v1", "kind": "List", "items": items})
    return f"{len(items)} {kind}"


def collect_batches(bundle: Bundle) -> str:
    """``batches.txt``: every batch Job's items and their outcomes (:func:`batch_table`), from the
    Jobs and pods already collected."""
    text = batch_table(bundle.facts["jobs"], bundle.facts["pods"])
    bundle.add("batches.txt", text)
    return "no batch Jobs" if text.startswith("No ") else f"{len(text.splitlines()) - 1} batch items"


def pods_for_logs(pods: list[dict]) -> tuple[list[dict], int]:
    """The operator, uploader and bundled MinIO pods (label ``app.kubernetes.io/component``) and the newest
    :data:`MAX_RESIZER_POD_LOGS` resizer pods (``app.kubernetes.io/managed-by=thumbnailer-operator``);
    returns (pods, number of older resizer pods left out)."""
    def labels(p: dict) -> dict:
        return p["metadata"].get("labels") or {}

    components = [p for p in pods if labels(p).get(COMPONENT_LABEL) in COMPONENTS]
    resizers = sorted((p for p in pods if labels(p).get(RESIZER_LABEL) == RESIZER_MANAGED_BY),
                      key=lambda p: p["metadata"].get("creationTimestamp") or "", reverse=True)
    return components + resizers[:MAX_RESIZER_POD_LOGS], max(0, len(resizers) - MAX_RESIZER_POD_LOGS)


def collect_logs(bundle: Bundle, kube: KubeReader, pods: list[dict]) -> None:
    """``logs/<pod>/<container>.log`` for every container (init containers too) of the pods
    :func:`pods_for_logs` picks, and ``<container>.previous.log`` when it restarted. Each log
    is its own step: a failure writes ``<container>.log.error`` and is listed in the README."""
    chosen, left_out = pods_for_logs(pods)
    if left_out:
        bundle.notes.append(f"logs of {left_out} older resizer pods were left out "
                            f"(only the newest {MAX_RESIZER_POD_LOGS} are collected)")
    if not chosen:
        bundle.ok("logs", "no operator, uploader or resizer pods in the namespace")
    for pod in chosen:
        name = pod["metadata"]["name"]
        status = pod.get("status") or {}
        restarts = {s["name"]: s.get("restartCount", 0)
                    for s in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or [])}
        spec = pod.get("spec") or {}
        for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            runs = [False] + ([True] if restarts.get(c["name"], 0) > 0 else [])
            for previous in runs:
                suffix = ".previous.log" if previous else ".log"
                path = f"logs/{name}/{c['name']}{suffix}"

                def fetch(path: str = path, container: str = c["name"], previous: bool = previous,
                          name: str = name) -> str:
                    try:
                        data = kube.pod_log(bundle.namespace, name, container, previous)
                    except Exception as e:
                        bundle.add(path + ".error", describe_error(e) + "\n")
                        raise
                    bundle.add(path, data)
                    return f"{len(data)} bytes"

                bundle.run(f"log {name}/{c['name']}{' (previous)' if previous else ''}", fetch)


def find_helm(helm: str | None) -> str | None:
    """The helm executable: ``helm`` as given (a path, or a name looked up on PATH), else ``helm`` on PATH."""
    if helm and os.sep in helm:
        return helm if os.access(helm, os.X_OK) else None
    return shutil.which(helm or "helm")


def collect_helm(bundle: Bundle, helm: str | None, kube_args: list[str],
                 run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> None:
    """``helm/releases.json`` (``helm list``) and, per thumbnailer release (or the one named),
    ``helm/<release>/values.yaml`` (``helm get values --all``, redacted) and
    ``helm/<release>/metadata.json`` (``helm get metadata``). Without helm, one failed step
    says so. ``run`` is :func:`subprocess.run` (replaceable in tests)."""
    exe = find_helm(helm)
    if exe is None:
        where = f"{helm} is not an executable file" if helm and os.sep in helm else f"no {helm or 'helm'} on PATH"
        bundle.fail("helm", f"helm not found ({where}); release values and metadata not collected "
                            "(install helm, or name it with --helm PATH)")
        return
    ns = ["--namespace", bundle.namespace]

    def helm_cmd(*args: str) -> str:
        out = run([exe, *args, *ns, *kube_args], capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"helm {args[0]} {args[1] if len(args) > 1 else ''}: "
                               f"{(out.stderr or out.stdout).strip()[:500]}")
        return out.stdout

    releases: list[dict] = []

    def listing() -> str:
        releases.extend(json.loads(helm_cmd("list", "--all", "-o", "json") or "[]"))
        bundle.add("helm/releases.json", json.dumps(releases, indent=2) + "\n")
        if not releases:
            return "0 releases"
        return f"{len(releases)} releases: " + ", ".join(f"{r.get('name')} ({r.get('chart')}, {r.get('status')})"
                                                         for r in releases)

    bundle.run("helm list", listing)
    if bundle.release:
        names = [bundle.release]
    else:
        names = [r["name"] for r in releases if str(r.get("chart", "")).startswith("thumbnailer-")]
        if not names and not any(step == "helm list" for step, _ in bundle.failures):
            bundle.notes.append("no Helm release of the thumbnailer chart in the namespace")
    for name in names:
        def values(name: str = name) -> str:
            raw = yaml.safe_load(helm_cmd("get", "values", name, "--all", "-o", "yaml")) or {}
            bundle.add_yaml(f"helm/{name}/values.yaml", redact_values(raw, bundle.secrets))
            return f"helm/{name}/values.yaml"

        def meta(name: str = name) -> str:
            m = json.loads(helm_cmd("get", "metadata", name, "-o", "json"))
            bundle.add(f"helm/{name}/metadata.json", json.dumps(m, indent=2) + "\n")
            bundle.facts.setdefault("helm_chart", {
                "chart": f"{m.get('chart')}-{m.get('version')}", "name": m.get("chart"), "version": m.get("version"),
                "appVersion": m.get("appVersion"), "release": name, "revision": m.get("revision"),
                "status": m.get("status"), "source": f"helm release {name}"})
            return f"chart {m.get('chart')}-{m.get('version')}, app {m.get('appVersion')}, revision {m.get('revision')}"

        bundle.run(f"helm values {name}", values)
        bundle.run(f"helm metadata {name}", meta)


def load_kube(kubeconfig: str | None, context: str | None) -> tuple[Any, str]:
    """An ApiClient from ``kubeconfig`` (else ``$KUBECONFIG``, else ``~/.kube/config``), falling
    back to the in-cluster ServiceAccount; returns (client, description). Raises the
    client's ConfigException when neither works."""
    from kubernetes import client, config

    cfg = client.Configuration()
    try:
        config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg)
        where = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
    except (config.ConfigException, OSError, TypeError) as e:
        if kubeconfig:
            raise config.ConfigException(f"kubeconfig {kubeconfig}: {e}") from e
        try:
            config.load_incluster_config(client_configuration=cfg)
        except config.ConfigException:
            raise config.ConfigException(f"no usable kubeconfig ({e}) and not in a pod") from e
        where = "in-cluster ServiceAccount"
    cfg.retries = 1
    return client.ApiClient(cfg), f"{where} (server {cfg.host})"


def collect(namespace: str, release: str | None = None, kubeconfig: str | None = None,
            context: str | None = None, helm: str | None = None,
            kube_factory: Callable[[], tuple[Any, str]] | None = None,
            now: datetime.datetime | None = None) -> tuple[Bundle, dict[str, str]]:
    """Run every collection step for ``namespace``; never raises for a failed step.

    Returns the :class:`Bundle` and the README context lines (tool version, cluster).
    ``kube_factory`` returns (a :class:`KubeReader`-like object, description); the default
    loads the kubeconfig (:func:`load_kube`).
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    bundle = Bundle(namespace, release)
    context_lines = {"tool": f"thumbnailer {tool_version()} (python -m debugbundle)"}
    kube: Any = None
    try:
        if kube_factory is not None:
            kube, where = kube_factory()
        else:
            api_client, where = load_kube(kubeconfig, context)
            kube = KubeReader(api_client)
        context_lines["cluster"] = where
        bundle.ok("kubeconfig", where)
    except Exception as e:  # noqa: BLE001
        bundle.fail("kubeconfig", describe_error(e))
    cluster_steps = [("thumbnailjobs", lambda: collect_thumbnailjobs(bundle, kube, now)),
                     ("events", lambda: collect_events(bundle, kube)),
                     *((kind, lambda kind=kind: collect_objects(bundle, kube, kind))
                       for kind in ("pods", "jobs", "deployments", "leases"))]
    for step, run in cluster_steps:
        if kube is None:
            bundle.fail(step, "not collected: no connection to the cluster (see the kubeconfig step)")
        else:
            bundle.run(step, run)
    if "pods" in bundle.facts and "jobs" in bundle.facts:
        bundle.run("batches", lambda: collect_batches(bundle))
    else:
        bundle.fail("batches", "not collected: the Jobs or pods could not be listed")
    if "pods" in bundle.facts:
        collect_logs(bundle, kube, bundle.facts["pods"])
    else:
        bundle.fail("logs", "not collected: the pods could not be listed")
    kube_args = [*(["--kubeconfig", kubeconfig] if kubeconfig else []),
                 *(["--kube-context", context] if context else [])]
    collect_helm(bundle, helm, kube_args)
    collect_versions(bundle, kube)
    return bundle, context_lines


def default_output(namespace: str, now: datetime.datetime) -> Path:
    """``thumbnailer-debug-<ns>-<YYYYmmddTHHMMSSZ>.tar.gz`` in the current directory."""
    return Path(f"thumbnailer-debug-{namespace}-{now.strftime('%Y%m%dT%H%M%SZ')}.tar.gz")


def main(argv: list[str] | None = None) -> int:
    """The CLI; returns 0 when the tarball was written, 1 when it could not be written or holds nothing
    from the cluster (no usable kubeconfig; the tarball still says why), 2 on usage errors."""
    parser = argparse.ArgumentParser(prog="python -m debugbundle",
                                     description="Collect debugging information about a thumbnailer "
                                                 "installation into one .tar.gz (secrets redacted).")
    parser.add_argument("--namespace", "-n", required=True, help="the namespace thumbnailer runs in")
    parser.add_argument("--release", help="the Helm release (default: every release of the thumbnailer chart)")
    parser.add_argument("--output", "-o", type=Path,
                        help="the tarball to write (default: thumbnailer-debug-<ns>-<UTC time>.tar.gz)")
    parser.add_argument("--kubeconfig", help="default: $KUBECONFIG, else ~/.kube/config, else in-cluster")
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")
    parser.add_argument("--helm", help="the helm executable (default: helm on PATH)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    bundle, context_lines = collect(args.namespace, args.release, args.kubeconfig, args.context, args.helm, now=now)
    output = args.output or default_output(args.namespace, now)
    if output.is_dir():
        output = output / default_output(args.namespace, now).name
    try:
        bundle.write(output, now, context_lines)
    except Exception:  # noqa: BLE001 - the one fatal error: report it fully
        traceback.print_exc()
        print(f"debug bundle: could not write {output}", file=sys.stderr)
        return 1
    failed = bundle.failures
    print(f"wrote {output} ({len(bundle.files) + 1} files, {len(failed)} step{'' if len(failed) == 1 else 's'} failed, "
          f"{time.monotonic() - started:.1f} s)")
    for step, error in failed:
        print(f"  FAILED {step}: {error}", file=sys.stderr)
    if any(step == "kubeconfig" for step, _ in failed):
        print("debug bundle: nothing was collected from the cluster; pass --kubeconfig (on the make up "
              "stack: .local/kubeconfig) or set KUBECONFIG", file=sys.stderr)
        return 1
    return 0
