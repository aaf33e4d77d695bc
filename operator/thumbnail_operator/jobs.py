"""Pure functions: a ThumbnailJob (as a dict) in, the batch/v1 Job that renders it out."""

from __future__ import annotations

import hashlib

from resizer.errors import PERMANENT_EXIT_CODES
from thumbnailer import api

from .settings import OperatorSettings

#: Labels on every Job and pod the operator creates.
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "thumbnailer-operator"
LABEL_THUMBNAILJOB = f"{api.GROUP}/thumbnailjob"
LABEL_GENERATION = f"{api.GROUP}/generation"
CONTAINER = "resizer"
#: UID and GID of the resizer process: the images' `USER 10001:10001` and the chart's pods.
RESIZER_UID = 10001
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
        {"name": "S3_ENDPOINT", "value": settings.s3_endpoint},
        {"name": "S3_SECURE", "value": str(settings.s3_secure).lower()},
        {"name": "S3_REGION", "value": settings.s3_region},
        {"name": "S3_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": secret, "key": "accessKey"}}},
        {"name": "S3_SECRET_KEY", "valueFrom": {"secretKeyRef": {"name": secret, "key": "secretKey"}}},
        {"name": "SOURCE_BUCKET", "value": spec["source"].get("bucket") or settings.s3_bucket},
        {"name": "SOURCE_KEY", "value": spec["source"]["key"]},
        {"name": "OUTPUT_BUCKET", "value": settings.s3_bucket},
        {"name": "OUTPUT_KEY", "value": output_key(settings, ns, name)},
        {"name": "THUMBNAIL_WIDTH", "value": str(size.get("width", 100))},
        {"name": "THUMBNAIL_HEIGHT", "value": str(size.get("height", 100))},
        {"name": "THUMBNAIL_FIT", "value": spec.get("fit", "cover")},
        {"name": "THUMBNAIL_FORMAT", "value": spec.get("format", "")},
        {"name": "MAX_PIXELS", "value": str(settings.max_pixels)},
        {"name": "MAX_BYTES", "value": str(settings.max_bytes)},
        {"name": "MAX_FRAMES", "value": str(settings.max_frames)},
        {"name": "MAX_OUTPUT_PIXELS", "value": str(settings.max_output_pixels)},
        {"name": "MAX_CPU_SECONDS", "value": str(settings.max_cpu_seconds)},
    ]
    previous = ((tj.get("status") or {}).get("output") or {}).get("key")
    if previous:
        env.append({"name": "PREVIOUS_OUTPUT_KEY", "value": previous})
    pod_spec: dict = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        # The user and group are explicit: from the image's `USER 10001:10001` kubelet takes only
        # the UID, and without a passwd entry the runtime then starts the process with GID 0.
        "securityContext": {"runAsNonRoot": True, "runAsUser": RESIZER_UID, "runAsGroup": RESIZER_UID,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": CONTAINER,
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
                 "onExitCodes": {"containerName": CONTAINER, "operator": "In",
                                 "values": list(PERMANENT_EXIT_CODES)}},
            ]},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }
