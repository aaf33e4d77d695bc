"""Pure functions: a ThumbnailJob (as a dict) in, the batch/v1 Job that renders it out."""

from __future__ import annotations

import hashlib

from thumbnailer import api
from thumbnailer.api import (LABEL_GENERATION, LABEL_MANAGED_BY, LABEL_THUMBNAILJOB, MANAGED_BY,
                             PERMANENT_EXIT_CODES, RESIZER_CONTAINER, RESIZER_UID)
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
    tools track their own objects by those).

    When the previous generation left a thumbnail under another key (another
    format), the resizer removes it after writing the new one (``PREVIOUS_OUTPUT_KEY``).
    """
    meta, spec = tj["metadata"], tj["spec"]
    name, ns, gen = meta["name"], meta["namespace"], meta["generation"]
    size = spec.get("size") or {}
    labels = {LABEL_MANAGED_BY: MANAGED_BY, LABEL_THUMBNAILJOB: label_value(name), LABEL_GENERATION: str(gen)}
    secret = settings.s3_credentials_secret
    env = [
        {"name": E.S3_ENDPOINT, "value": settings.s3_endpoint},
        {"name": E.S3_SECURE, "value": str(settings.s3_secure).lower()},
        {"name": E.S3_REGION, "value": settings.s3_region},
        {"name": E.S3_ACCESS_KEY, "valueFrom": {"secretKeyRef": {"name": secret, "key": "accessKey"}}},
        {"name": E.S3_SECRET_KEY, "valueFrom": {"secretKeyRef": {"name": secret, "key": "secretKey"}}},
        {"name": E.SOURCE_BUCKET, "value": spec["source"].get("bucket") or settings.s3_bucket},
        {"name": E.SOURCE_KEY, "value": spec["source"]["key"]},
        {"name": E.OUTPUT_BUCKET, "value": settings.s3_bucket},
        {"name": E.OUTPUT_KEY, "value": output_key(settings, ns, name)},
        {"name": E.THUMBNAIL_WIDTH, "value": str(size.get("width", api.DEFAULT_WIDTH))},
        {"name": E.THUMBNAIL_HEIGHT, "value": str(size.get("height", api.DEFAULT_HEIGHT))},
        {"name": E.THUMBNAIL_FIT, "value": spec.get("fit", api.DEFAULT_FIT)},
        {"name": E.THUMBNAIL_FORMAT, "value": spec.get("format", "")},
        {"name": E.MAX_PIXELS, "value": str(settings.max_pixels)},
        {"name": E.MAX_BYTES, "value": str(settings.max_bytes)},
        {"name": E.MAX_FRAMES, "value": str(settings.max_frames)},
        {"name": E.MAX_ANIMATION_PIXELS, "value": str(settings.max_animation_pixels)},
        {"name": E.MAX_OUTPUT_PIXELS, "value": str(settings.max_output_pixels)},
        {"name": E.MAX_CPU_SECONDS, "value": str(settings.max_cpu_seconds)},
    ]
    previous = ((tj.get("status") or {}).get("output") or {}).get("key")
    if previous:
        env.append({"name": E.PREVIOUS_OUTPUT_KEY, "value": previous})
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
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(name, gen),
            "namespace": ns,
            "labels": labels,
            "ownerReferences": [{
                "apiVersion": api.API_VERSION, "kind": api.KIND, "name": name, "uid": meta["uid"],
                "controller": True, "blockOwnerDeletion": True,
            }],
        },
        "spec": {
            "backoffLimit": settings.job_backoff_limit,
            "activeDeadlineSeconds": settings.job_active_deadline_seconds,
            "podFailurePolicy": {"rules": [
                {"action": "FailJob",
                 "onExitCodes": {"containerName": RESIZER_CONTAINER, "operator": "In",
                                 "values": list(PERMANENT_EXIT_CODES)}},
            ]},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }
