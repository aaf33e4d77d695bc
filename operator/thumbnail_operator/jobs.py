"""Pure functions: a ThumbnailJob (as a dict) in, the batch/v1 Job that renders it out."""

from __future__ import annotations

import hashlib
import json

from thumbnailer import api
from thumbnailer.api import (ANNOTATION_BATCH_ITEMS, batch_members, LABEL_BATCH, LABEL_GENERATION, LABEL_MANAGED_BY,
                             LABEL_MEMBER_PREFIX, LABEL_THUMBNAILJOB, MANAGED_BY, PERMANENT_EXIT_CODES,
                             RESIZER_CONTAINER, RESIZER_UID)
from thumbnailer.api import ResizerEnv as E

from .settings import OperatorSettings

_MAX_NAME = 63  # Job names become the pods' job-name label value: at most 63 characters


def job_name(name: str, generation: int) -> str:
    """The one Job name for ``name`` at ``generation``: deterministic, at most 63 characters.

    ``<name>-g<generation>`` when it fits; otherwise the name is cut and a hash
    of the full name keeps it unique. Creating a second Job for the same
    generation therefore fails with 409 AlreadyExists.
    """
    suffix = f"-g{generation}"
    if len(name) + len(suffix) <= _MAX_NAME:
        return name + suffix
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[: _MAX_NAME - len(suffix) - 11].rstrip('-.')}-{digest}{suffix}"


def label_value(name: str) -> str:
    """``name`` as a label value (at most 63 characters; long names are hashed)."""
    return name if len(name) <= _MAX_NAME else "h-" + hashlib.sha256(name.encode()).hexdigest()[:40]


def member_label(name: str) -> str:
    """The label key that marks a Job as serving the ThumbnailJob ``name`` (value: the generation)."""
    return LABEL_MEMBER_PREFIX + label_value(name)


def output_key(settings: OperatorSettings, namespace: str, name: str) -> str:
    """Object key of the thumbnail without its extension (the resizer adds it)."""
    return f"{settings.output_prefix}/{namespace}/{name}"


def build_job(tj: dict, settings: OperatorSettings) -> dict:
    """The Job manifest for the ThumbnailJob ``tj`` at its current generation.

    The Job is owned by the ThumbnailJob (garbage-collected with it), fails at
    once on the resizer's permanent exit codes (``podFailurePolicy``) and
    retries other failures up to ``job_backoff_limit``. It has no
    ``ttlSecondsAfterFinished`` yet: the operator sets it once the outcome is in
    the ThumbnailJob's status, so a Job is never cleaned up before its result
    is recorded. No label or annotation of the ThumbnailJob is copied (GitOps
    tools track their own objects by those). Like a batch Job, it carries the
    member label (:func:`member_label`), so a member finds its Jobs of either kind.
    """
    meta = tj["metadata"]
    name, ns, gen = meta["name"], meta["namespace"], meta["generation"]
    labels = {LABEL_MANAGED_BY: MANAGED_BY, LABEL_THUMBNAILJOB: label_value(name), LABEL_GENERATION: str(gen)}
    env = _shared_env(settings) + [
        {"name": api.BATCH_ITEM_FIELDS[k], "value": v} for k, v in _item(tj, settings).items()]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(name, gen),
            "namespace": ns,
            "labels": {**labels, member_label(name): str(gen)},
            "ownerReferences": [_owner(tj, controller=True)],
        },
        "spec": {
            "backoffLimit": settings.job_backoff_limit,
            "activeDeadlineSeconds": settings.job_active_deadline_seconds,
            "podFailurePolicy": {"rules": [
                {"action": "FailJob",
                 "onExitCodes": {"containerName": RESIZER_CONTAINER, "operator": "In",
                                 "values": list(PERMANENT_EXIT_CODES)}},
            ]},
            "template": {"metadata": {"labels": labels}, "spec": _pod_spec(settings, env)},
        },
    }


def build_batch_job(tjs: list[dict], settings: OperatorSettings, name: str) -> dict:
    """The batch Job ``name`` that renders every ThumbnailJob of ``tjs`` (one namespace), in order.

    Each item's source, output and size go into ``BATCH_ITEMS`` (:mod:`resizer.batch`), the
    shared settings into the usual variables. The members are listed in the annotation
    :data:`~thumbnailer.api.ANNOTATION_BATCH_ITEMS` (name, uid, generation: what the operator
    matches the report's lines to) and each has its label :func:`member_label`. Every member
    is an owner (none is the controller): the garbage collector removes the Job only once all
    of them are gone, so deleting one member never stops the others' work.

    The operator is the retry loop of a batch (``backoffLimit`` 0, no pod failure policy):
    whatever a failed pod did not finish goes back to the queue, each member counting its own
    tries against ``job_backoff_limit``. ``activeDeadlineSeconds`` is the per-Job deadline
    times the number of items.
    """
    ns = tjs[0]["metadata"]["namespace"]
    members = [{"name": t["metadata"]["name"], "uid": t["metadata"]["uid"], "generation": t["metadata"]["generation"]}
               for t in tjs]
    labels = {LABEL_MANAGED_BY: MANAGED_BY, LABEL_BATCH: "true"}
    env = _shared_env(settings) + [{"name": api.ResizerEnv.BATCH_ITEMS, "value": json.dumps(
        [_item(t, settings) for t in tjs], separators=(",", ":"))}]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {**labels, **{member_label(m["name"]): str(m["generation"]) for m in members}},
            "annotations": {ANNOTATION_BATCH_ITEMS: json.dumps(members, separators=(",", ":"))},
            "ownerReferences": [_owner(t, controller=False) for t in tjs],
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": settings.job_active_deadline_seconds * len(tjs),
            "template": {"metadata": {"labels": labels}, "spec": _pod_spec(settings, env)},
        },
    }


def claimed_members(job: dict) -> set[tuple[str, str]]:
    """(namespace, name) of every ThumbnailJob the Job serves, batch or single."""
    meta = job["metadata"]
    members = batch_members(job)
    if members:
        return {(meta["namespace"], m.get("name")) for m in members}
    return {(meta["namespace"], ref["name"]) for ref in meta.get("ownerReferences") or [] if ref.get("kind") == api.KIND}


def _owner(tj: dict, controller: bool) -> dict:
    meta = tj["metadata"]
    return {"apiVersion": api.API_VERSION, "kind": api.KIND, "name": meta["name"], "uid": meta["uid"],
            "controller": controller, "blockOwnerDeletion": True}


def _item(tj: dict, settings: OperatorSettings) -> dict[str, str]:
    """One ThumbnailJob's per-item settings, by :data:`~thumbnailer.api.BATCH_ITEM_FIELDS` key.

    When the previous generation left a thumbnail under another key (another format),
    the resizer removes it after writing the new one (``previousOutputKey``).
    """
    meta, spec = tj["metadata"], tj["spec"]
    size = spec.get("size") or {}
    item = {
        "sourceBucket": spec["source"].get("bucket") or settings.s3_bucket,
        "sourceKey": spec["source"]["key"],
        "outputKey": output_key(settings, meta["namespace"], meta["name"]),
        "width": str(size.get("width", api.DEFAULT_WIDTH)),
        "height": str(size.get("height", api.DEFAULT_HEIGHT)),
        "fit": spec.get("fit", api.DEFAULT_FIT),
        "format": spec.get("format", ""),
    }
    previous = ((tj.get("status") or {}).get("output") or {}).get("key")
    if previous:
        item["previousOutputKey"] = previous
    return item


def _shared_env(settings: OperatorSettings) -> list[dict]:
    """The resizer's variables every item shares: the store and the limits."""
    secret = settings.s3_credentials_secret
    return [
        {"name": E.S3_ENDPOINT, "value": settings.s3_endpoint},
        {"name": E.S3_SECURE, "value": str(settings.s3_secure).lower()},
        {"name": E.S3_REGION, "value": settings.s3_region},
        {"name": E.S3_ACCESS_KEY, "valueFrom": {"secretKeyRef": {"name": secret, "key": "accessKey"}}},
        {"name": E.S3_SECRET_KEY, "valueFrom": {"secretKeyRef": {"name": secret, "key": "secretKey"}}},
        {"name": E.OUTPUT_BUCKET, "value": settings.s3_bucket},
        {"name": E.MAX_PIXELS, "value": str(settings.max_pixels)},
        {"name": E.MAX_BYTES, "value": str(settings.max_bytes)},
        {"name": E.MAX_FRAMES, "value": str(settings.max_frames)},
        {"name": E.MAX_ANIMATION_PIXELS, "value": str(settings.max_animation_pixels)},
        {"name": E.MAX_OUTPUT_PIXELS, "value": str(settings.max_output_pixels)},
        {"name": E.MAX_CPU_SECONDS, "value": str(settings.max_cpu_seconds)},
    ]


def _pod_spec(settings: OperatorSettings, env: list[dict]) -> dict:
    """The resizer pod: no ServiceAccount token, non-root, read-only root filesystem, a /tmp emptyDir."""
    pod_spec: dict = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        # The user and group are explicit: from the image's `USER 10001:10001` kubelet takes only
        # the UID, and without a passwd entry the runtime then starts the process with GID 0.
        "securityContext": {"runAsNonRoot": True, "runAsUser": RESIZER_UID, "runAsGroup": RESIZER_UID,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": RESIZER_CONTAINER,
            "image": settings.resizer_image,
            "imagePullPolicy": settings.resizer_image_pull_policy,
            "command": list(settings.resizer_command),
            "env": env,
            "terminationMessagePolicy": "FallbackToLogsOnError",
            "resources": settings.resizer_resources,
            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]}},
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        }],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}],
    }
    if settings.resizer_service_account:
        pod_spec["serviceAccountName"] = settings.resizer_service_account
    return pod_spec
