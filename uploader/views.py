"""Pure functions: a ThumbnailJob (dict) in, the API's JSON view of it out."""

from __future__ import annotations

from thumbnailer import api

_STATUS = {api.PHASE_SUCCEEDED: "succeeded", api.PHASE_FAILED: "failed"}
#: The API's ``status`` -> the field selector on ``status.phase`` that lists those ThumbnailJobs.
STATUS_SELECTORS = {
    "succeeded": f"status.phase={api.PHASE_SUCCEEDED}",
    "failed": f"status.phase={api.PHASE_FAILED}",
    "processing": f"status.phase!={api.PHASE_SUCCEEDED},status.phase!={api.PHASE_FAILED}",
}


def deleting(tj: dict) -> bool:
    """Whether the ThumbnailJob is being deleted (``metadata.deletionTimestamp`` is set; its
    finalizer is removing its objects from the store). The API no longer shows it: a DELETE answered 204."""
    return bool((tj.get("metadata") or {}).get("deletionTimestamp"))


def observed(tj: dict) -> bool:
    """Whether the status describes the current spec: ``status.observedGeneration`` is not behind
    ``metadata.generation`` (Kubernetes API conventions; a status without it counts as current).

    Setting ``deletionTimestamp`` also bumps ``metadata.generation``; that is no new spec, so
    a ThumbnailJob being deleted keeps its last status."""
    if deleting(tj):
        return True
    generation = (tj.get("metadata") or {}).get("generation")
    seen = (tj.get("status") or {}).get("observedGeneration")
    return not (isinstance(generation, int) and isinstance(seen, int) and seen < generation)


def public_status(tj: dict) -> str:
    """``succeeded``, ``failed`` or ``processing``: everything before a terminal phase, and a terminal
    phase of an older generation (just after a spec edit, until the operator has observed it)."""
    if not observed(tj):
        return "processing"
    return _STATUS.get((tj.get("status") or {}).get("phase", ""), "processing")


def effective_options(spec: dict) -> dict:
    """The thumbnail a spec asks for, defaults filled in: ``{"width", "height", "fit", "format"}``.

    ``format`` is None when the output format is chosen from the source.
    """
    size = spec.get("size") or {}
    return {"width": size.get("width", api.DEFAULT_WIDTH), "height": size.get("height", api.DEFAULT_HEIGHT),
            "fit": spec.get("fit") or api.DEFAULT_FIT, "format": spec.get("format") or None}


def job_view(tj: dict) -> dict:
    """The JSON body that describes one job (``GET /v1/jobs/{id}``)."""
    meta, spec, st = tj["metadata"], tj.get("spec") or {}, tj.get("status") or {}
    state = public_status(tj)
    if not observed(tj):  # the status is about the previous spec: none of it describes this one yet
        st = {"phase": api.PHASE_PENDING}
    options = effective_options(spec)
    view = {
        "id": meta["name"],
        "status": state,
        "phase": st.get("phase", api.PHASE_PENDING),
        "reason": st.get("reason"),
        "message": st.get("message"),
        "created_at": meta.get("creationTimestamp"),
        "completed_at": st.get("completionTime") if state != "processing" else None,
        "thumbnail_url": f"/v1/jobs/{meta['name']}/thumbnail" if state == "succeeded" else None,
        "source": spec.get("source"),
        "size": {"width": options["width"], "height": options["height"]},
        "fit": options["fit"],
        "format": options["format"],
    }
    output = st.get("output")
    if state == "succeeded" and output:
        view["thumbnail"] = {"width": output.get("width"), "height": output.get("height"),
                             "content_type": output.get("contentType"), "bytes": output.get("bytes")}
    return view


def not_modified(if_none_match: list | None, opaque: str) -> bool:
    """Whether an ``If-None-Match`` (falcon's parsed list: ``"*"`` or :class:`falcon.ETag` values) matches
    the current entity-tag ``opaque`` (without quotes): RFC 9110, 13.1.2, with the weak comparison it
    prescribes (``W/"x"`` matches ``"x"``) and ``*`` matching any current representation."""
    return any(tag == "*" or str(tag) == opaque for tag in if_none_match or ())
