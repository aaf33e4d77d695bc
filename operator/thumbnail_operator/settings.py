"""The operator's configuration: one typed object, read once from the environment."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from thumbnailer import api


def namespace_patterns(spec: str) -> list[str]:
    """Kopf namespace patterns from ``WATCH_NAMESPACE`` ('' -> [] meaning cluster-wide).

    Patterns are separated by spaces; a namespace served by any of them is watched.
    Within one pattern, Kopf's glob chains apply (``myapp-*,!*-pr-*``).
    """
    return spec.split()


def plain_namespaces(patterns: list[str]) -> list[str]:
    """The patterns that are plain namespace names (no glob, negation or chain)."""
    return [p for p in patterns if not any(c in p for c in "*?[!,")]


def namespace_watched(namespace: str, patterns: list[str]) -> bool:
    """Whether Kopf serves ``namespace`` with ``patterns``.

    Kopf's rules (docs.kopf.dev, "Scopes"): within a comma-separated chain of
    globs the first glob is decisive (no match, no service; a leading negation
    implies a leading ``*``) and the rightmost matching glob wins; a namespace
    is served if any pattern serves it. No patterns: every namespace.
    """
    import fnmatch

    if not patterns:
        return True
    for pattern in patterns:
        globs = [g.strip() for g in pattern.split(",") if g.strip()]
        if not globs:
            continue
        if not globs[0].startswith("!") and not fnmatch.fnmatchcase(namespace, globs[0]):
            continue
        served = True
        for glob in globs:
            if fnmatch.fnmatchcase(namespace, glob.lstrip("!")):
                served = not glob.startswith("!")
        if served:
            return True
    return False


class OperatorSettings(BaseSettings):
    """Every knob of the operator; the environment variable is the field name in upper case.

    The S3 credentials never pass through the operator: resizer pods read them
    from the Secret ``s3_credentials_secret`` (keys ``accessKey`` and
    ``secretKey``), which must exist in each namespace with ThumbnailJobs.
    """

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    watch_namespace: str = Field("", description="Namespaces to watch: empty for all, or Kopf namespace patterns "
                                                 "separated by spaces (e.g. 'media team-*' or '!op-*').")
    resizer_image: str = Field("thumbnailer-resizer:0.1.0", description="Image of the resizer Job's container.")
    resizer_image_pull_policy: str = "IfNotPresent"
    resizer_service_account: str = Field("", description="ServiceAccount of resizer pods (empty: default).")
    resizer_command: list[str] = Field(["python", "-m", "resizer"], description="Container command (JSON list).")
    resizer_resources: dict = Field(
        {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "1Gi"}},
        description="The resizer container's resources (JSON, as in a pod spec). The default memory limit holds "
                    "a MAX_PIXELS (89.5 MP) RGBA image decoded (358 MB) with room for the resampled copy.")
    s3_endpoint: str = Field("minio:9000", description="host:port of the S3 store, as seen from resizer pods.")
    s3_secure: bool = False
    s3_region: str = "us-east-1"
    s3_bucket: str = Field("thumbnails", description="Bucket used when spec.source.bucket is empty, and for output.")
    s3_credentials_secret: str = "thumbnailer-s3"
    s3_access_key: str = Field("", description="The operator's own S3 credentials, for the deletion policy.")
    s3_secret_key: str = Field("", repr=False)
    object_deletion_policy: Literal["Delete", "Keep"] = Field(
        "Delete", description="On ThumbnailJob deletion: Delete removes its thumbnail and an uploaded source "
                              "(via a finalizer); Keep leaves the store alone (and adds no finalizer).")
    cleanup_attempts: int = Field(5, ge=1, description="Tries to clean the store before giving up with a Warning.")
    output_prefix: str = Field("thumbnails", description="Thumbnails go to <prefix>/<namespace>/<name>.<ext>.")
    max_running_jobs: int = Field(10, ge=0, description="At most this many resizer Jobs run at once (0: no cap); "
                                                      "the rest wait as Pending/Queued, oldest first.")
    batch_max_items: int = Field(1, ge=1, le=api.MAX_BATCH_ITEMS, description=(
        "Most ThumbnailJobs one resizer Job renders (1: a Job each). Batches form only from what is "
        "queued when a slot frees (MAX_RUNNING_JOBS counts Jobs), so a lone upload never waits for one."))
    job_backoff_limit: int = Field(3, ge=0, description="Retries of a resizer pod after a retryable failure "
                                                      "(in a batch: of each unfinished item).")
    job_active_deadline_seconds: int = Field(300, ge=1, description="Time limit of one Job, seconds.")
    job_ttl_seconds_after_finished: int = Field(3600, ge=0, description="Finished Jobs are deleted after, seconds.")
    max_pixels: int = Field(api.DEFAULT_MAX_PIXELS, ge=1,
        description="Decompression-bomb limit passed to the resizer, pixels.")
    max_bytes: int = Field(api.DEFAULT_MAX_BYTES, ge=1, description="Largest source image, bytes.")
    max_frames: int = Field(api.DEFAULT_MAX_FRAMES, ge=1,
        description="Frames kept from an animated source (GIF, WebP), passed to "
                    "the resizer; status.output says 'frames' of 'sourceFrames'.")
    max_animation_pixels: int = Field(api.DEFAULT_MAX_ANIMATION_PIXELS, ge=1,
        description="Decode budget of an animation passed to the resizer: canvas "
                    "x frames decoded, pixels; the animation is cut where the next frame would pass it.")
    max_output_pixels: int = Field(api.DEFAULT_MAX_OUTPUT_PIXELS, ge=1,
        description="Output budget passed to the resizer: width x "
                    "height x frames of a thumbnail, pixels (over it: OutputTooLarge).")
    max_cpu_seconds: int = Field(api.DEFAULT_MAX_CPU_SECONDS, ge=1,
        description="CPU time one image may cost in the resizer, seconds "
                    "(RLIMIT_CPU; over it: TooComplex).")
    resync_seconds: float = Field(15.0, gt=0, description="Period of the full resync of unfinished ThumbnailJobs.")
    leader_election: bool = Field(True, description="Replicas elect one active operator through a Lease.")
    leader_election_namespace: str = Field("", description="Namespace of the Lease (empty: the first namespace "
                                                           "in WATCH_NAMESPACE, else 'default').")
    leader_election_lease_seconds: int = Field(15, ge=3, description="A dead leader is replaced after this long.")
    liveness_port: int = Field(8080, description="Port of the /healthz liveness endpoint.")
    metrics_port: int = Field(9090, description="Port of the Prometheus /metrics endpoint (0: off).")
    liveness_host: str = "0.0.0.0"
    pod_id: str = Field("", description="This replica's identity for Kopf and the Lease (the chart sets the pod "
                                        "name). Empty: '<hostname>-<pid>', never the user name, so the image runs "
                                        "as any UID, with or without a passwd entry.")

    def identity(self) -> str:
        """This replica's name: ``POD_ID``, else ``<hostname>-<pid>``.

        Kopf's own fallback (``kopf._core.engines.peering.detect_own_id``) calls
        ``getpass.getuser()``, which raises ``KeyError`` for a UID without a
        passwd entry (an image's ``USER 10001``, OpenShift's random UIDs); the
        identity is therefore always given to Kopf, never left to it.
        """
        import os
        import socket

        return self.pod_id or f"{socket.gethostname()}-{os.getpid()}"
