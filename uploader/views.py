"""Pure functions: a ThumbnailJob (dict) in, the API's JSON view of it out."""

from __future__ import annotations

from thumbnailer import api

_STATUS = {api.PHASE_SUCCEEDED: "succeeded", api.PHASE_FAILED: "failed"}


def public_status(tj: dict) -> str:
    """``succeeded``, ``failed`` or ``processing`` (everything before a terminal phase)."""
    return _STATUS.get((tj.get("status") or {}).get("phase", ""), "processing")


def job_view(tj: dict) -> dict:
    """The JSON body that describes one job (``GET /v1/jobs/{id}``)."""
    meta, spec, st = tj["metadata"], tj.get("spec") or {}, tj.get("status") or {}
    state = public_status(tj)
    size = spec.get("size") or {}
    view = {
        "id": meta["name"],
        "status": state,
        "phase": st.get("phase", api.PHASE_PENDING),
        "reason": st.get("reason"),
        "message": st.get("message"),
        "created_at": meta.get("creationTimestamp"),
        "completed_at": st.get("completionTime"),
        "thumbnail_url": f"/v1/jobs/{meta['name']}/thumbnail" if state == "succeeded" else None,
        "source": spec.get("source"),
        "size": {"width": size.get("width", 100), "height": size.get("height", 100)},
        "fit": spec.get("fit", "cover"),
        "format": spec.get("format"),
    }
    output = st.get("output")
    if state == "succeeded" and output:
        view["thumbnail"] = {"width": output.get("width"), "height": output.get("height"),
                             "content_type": output.get("contentType"), "bytes": output.get("bytes")}
    return view
