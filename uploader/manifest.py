"""The ThumbnailJob an upload becomes, and where its source is stored."""

from __future__ import annotations

import secrets

from thumbnailer import api


def source_key(prefix: str, namespace: str, job_id: str, extension: str, unique: bool = False) -> str:
    """The object key of an upload's source: ``<prefix>/<namespace>/<job_id>.<extension>``.

    ``unique`` adds ``-<8 hex characters>`` after the ID: concurrent retries with one
    Idempotency-Key share the ID, and each must write its own object (the loser's is removed).
    """
    suffix = f"-{secrets.token_hex(4)}" if unique else ""
    return f"{prefix}/{namespace}/{job_id}{suffix}.{extension}"


def thumbnailjob(job_id: str, bucket: str, key: str, sha256: str, spec: dict) -> dict:
    """The ThumbnailJob manifest for a stored upload: named ``job_id``, labelled as the uploader's
    (so the operator's ``Delete`` policy removes its source too), annotated with the bytes' SHA-256
    (for Idempotency-Key replays), its ``spec`` the thumbnail options plus ``source``."""
    return {
        "apiVersion": api.API_VERSION, "kind": api.KIND,
        "metadata": {"name": job_id, "labels": {api.LABEL_CREATED_BY: api.CREATED_BY_UPLOADER},
                     "annotations": {api.ANNOTATION_SHA256: sha256}},
        "spec": {"source": {"bucket": bucket, "key": key}, **spec},
    }
