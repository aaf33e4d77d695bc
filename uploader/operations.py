"""The API's operations as the OpenAPI 3.0 document describes them: one entry per path and method.

:func:`uploader.openapi.build_spec` puts these together with the schemas of :mod:`uploader.schemas`;
tests/unit/test_openapi.py checks that every route and method the app serves is described here and
nothing else, and that the examples validate against the schemas.
"""

from __future__ import annotations

from thumbnailer import api

_PROBLEMS = "https://thumbnailer.dev/problems/"
_JOB_ID = "tj-0ovqj2g1d4h5k7m"
_SOURCE = {"bucket": "thumbnails", "key": f"uploads/default/{_JOB_ID}.jpg"}
_BINARY = {"schema": {"type": "string", "format": "binary"}}


def ref(kind: str, name: str) -> dict:
    """``{"$ref": "#/components/<kind>/<name>"}``."""
    return {"$ref": f"#/components/{kind}/{name}"}


def problem_example(status: int, slug: str, title: str, detail: str | None = None, instance: str | None = "/v1/jobs",
                    **extensions) -> dict:
    """An RFC 9457 problem as the API sends it (members in the order of :meth:`uploader.problems.Problem.to_problem`)."""
    body: dict = {"type": _PROBLEMS + slug, "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    return body | extensions


def problem_response(description: str, example: dict | None = None, examples: dict | None = None,
                     headers: dict | None = None) -> dict:
    """A response with an ``application/problem+json`` body: one ``example``, or named ``examples``."""
    content: dict = {"schema": ref("schemas", "Problem")}
    if example is not None:
        content["example"] = example
    if examples is not None:
        content["examples"] = {name: {"value": value} for name, value in examples.items()}
    out = {"description": description, "content": {"application/problem+json": content}}
    if headers:
        out["headers"] = headers
    return out


def json_response(description: str, schema: str, example: dict, headers: dict | None = None) -> dict:
    """A response with an ``application/json`` body of the component schema ``schema``."""
    out = {"description": description,
           "content": {"application/json": {"schema": ref("schemas", schema), "example": example}}}
    if headers:
        out["headers"] = headers
    return out


def _path_id(example: str | None = None) -> dict:
    out = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
    return out | {"example": example} if example else out


_UNAVAILABLE = ref("responses", "Unavailable")
_NOT_FOUND = ref("responses", "NotFound")
_CLOSE = {"Connection": {"schema": {"type": "string"}, "example": "close"}}

#: Shared error responses, referenced from the operations as ``#/components/responses/<name>``.
RESPONSES = {
    "BadRequest": problem_response("Malformed request or invalid parameter.", problem_example(
        400, "invalid-parameter", "Invalid parameter", "fit must be one of cover, contain, fill", parameter="fit")),
    "NotFound": problem_response("No job with this ID.", problem_example(
        404, "job-not-found", "Job not found", "no job with id 'tj-nope'", "/v1/jobs/tj-nope")),
    "Unavailable": problem_response(
        "The object store or the Kubernetes API server is unavailable; retry later.",
        problem_example(503, "object-store-unavailable", "The object store is unavailable",
                        "cannot write to the store: connection refused"),
        headers={"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}),
}

_UPLOAD = {
    "summary": "Upload an image; a ThumbnailJob makes its thumbnail",
    "description": (
        "The image is sniffed from its bytes (never the file name or Content-Type), checked (byte limit, declared "
        "pixel count), stored in the S3 bucket, and a ThumbnailJob is created whose name is the job ID. Poll the "
        "Location, then fetch thumbnail_url. Send a Content-Length (chunked uploads get 411); a body that stops "
        "arriving for BODY_READ_TIMEOUT_SECONDS gets 408 and nothing is stored. With an Idempotency-Key, a retry "
        "with the same bytes and the same parameters returns the job the first request created; the same key with "
        "other bytes or parameters is 422. Each query parameter may be given once; integers are ASCII digits."),
    "tags": ["jobs"],
    "parameters": [
        {"name": "width", "in": "query",
         "schema": {"type": "integer", "minimum": 1, "maximum": api.MAX_DIMENSION, "default": api.DEFAULT_WIDTH}},
        {"name": "height", "in": "query",
         "schema": {"type": "integer", "minimum": 1, "maximum": api.MAX_DIMENSION, "default": api.DEFAULT_HEIGHT}},
        {"name": "fit", "in": "query", "schema": {"type": "string", "enum": list(api.FITS), "default": api.DEFAULT_FIT}},
        {"name": "format", "in": "query",
         "description": "Output format; leave it out to choose from the source (JPEG for opaque stills, PNG with "
                        "transparency, GIF for animations).",
         "schema": {"type": "string", "enum": list(api.OUTPUT_FORMATS)}},
        {"name": "Idempotency-Key", "in": "header",
         "description": "1 to 255 visible ASCII characters, no comma; given once (a repeated header arrives "
                        "joined by a comma and is 400).",
         "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-+\\--~]+$"},
         "example": "upload-7f3a"},
    ],
    "requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["image"],
                                           "properties": {"image": {"type": "string", "format": "binary"}}}},
        "application/octet-stream": _BINARY,
        "image/*": _BINARY,
    }},
    "responses": {
        "202": json_response(
            "Accepted; the job is processing.", "Job",
            {"id": _JOB_ID, "status": "processing", "phase": "Pending", "reason": None, "message": None,
             "created_at": "2026-11-30T04:04:36Z", "completed_at": None, "thumbnail_url": None, "source": _SOURCE,
             "size": {"width": 100, "height": 100}, "fit": "cover", "format": None},
            headers={"Location": {"description": "The job's URL.", "schema": {"type": "string"},
                                  "example": f"/v1/jobs/{_JOB_ID}"}}),
        "400": problem_response(
            "An invalid parameter (named in `parameter`), a form without exactly one `image` field or with any "
            "other field, a malformed form, or a body that ended before its Content-Length (`incomplete-body`: the "
            "client closed the connection; nothing was stored).",
            examples={
                "parameter": problem_example(400, "invalid-parameter", "Invalid parameter",
                                             "fit must be one of cover, contain, fill", parameter="fit"),
                "incomplete": problem_example(
                    400, "incomplete-body", "Incomplete upload",
                    "the body ended before the 61306 bytes its Content-Length announced (the connection was "
                    "closed); nothing was stored"),
            }),
        "408": problem_response(
            "The body stopped arriving (no bytes for BODY_READ_TIMEOUT_SECONDS); nothing was stored and the "
            "connection is closed.",
            problem_example(408, "request-timeout", "Request timeout",
                            "the upload stopped arriving: no bytes for 30 seconds; nothing was stored"),
            headers=_CLOSE),
        "411": problem_response("No Content-Length (chunked upload).", problem_example(
            411, "length-required", "Length required",
            "send the upload with a Content-Length header (chunked uploads are not accepted)")),
        "413": problem_response("Over the byte limit (decided from Content-Length or while streaming).",
                                problem_example(413, "payload-too-large", "Upload too large",
                                                "the upload is 62914560 bytes; the limit is 52428800 bytes",
                                                limit=52428800)),
        "415": problem_response("Not an accepted image type (sniffed from the bytes).", problem_example(
            415, "unsupported-media-type", "Image not accepted", "the file is HTML, not an image", instance=None,
            reason="NotAnImage")),
        "422": problem_response(
            "The header declares more pixels than the limit (decompression bomb, reason ImageTooLarge), the "
            "thumbnail asked for is over the output budget MAX_OUTPUT_PIXELS (width x height x frames kept, reason "
            "OutputTooLarge), or the Idempotency-Key was used for another upload: other bytes, or another width, "
            "height, fit or format (slug idempotency-key-reused).",
            problem_example(
                422, "image-too-large", "Image not accepted",
                "the image declares 10000x10000 pixels (100.0 megapixels), over the limit of 89.5 megapixels "
                "(decompression bomb protection)", reason="ImageTooLarge")),
        "503": _UNAVAILABLE,
    },
}

_LIST = {
    "summary": "List jobs, newest first, a page at a time",
    "description": (
        "Jobs created through this API are listed newest first (their IDs sort that way); ThumbnailJobs applied "
        "directly to the cluster appear in name order among them. Pages come from the API server's own "
        "consistent list with its continue token."),
    "tags": ["jobs"],
    "parameters": [
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}},
        {"name": "continue", "in": "query",
         "description": "The continue token of the previous page (a malformed one is 400).",
         "schema": {"type": "string"}},
        {"name": "status", "in": "query",
         "schema": {"type": "string", "enum": ["processing", "succeeded", "failed"]}},
    ],
    "responses": {
        "200": json_response("One page of jobs.", "JobList", {
            "items": [{"id": _JOB_ID, "status": "processing", "phase": "Running", "reason": "Rendering",
                       "message": "the resizer is making the thumbnail", "created_at": "2026-11-30T04:04:36Z",
                       "completed_at": None, "thumbnail_url": None, "size": {"width": 100, "height": 100},
                       "fit": "cover", "format": None}],
            "continue": "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTIzfQ"}),
        "400": problem_response(
            "Invalid parameter (named in `parameter`): a malformed continue token, or a parameter other than "
            "limit, continue and status (a misspelt `stauts` would list every job); `_`, the cache buster, is "
            "ignored.",
            problem_example(400, "invalid-parameter", "Invalid parameter",
                            "the continue token is not one this API issued; list again without it",
                            parameter="continue")),
        "410": problem_response("The continue token expired; list again from the start.", problem_example(
            410, "continue-expired", "Continue token expired")),
        "503": _UNAVAILABLE,
    },
}

_READ = {
    "summary": "Read one job's status",
    "tags": ["jobs"],
    "parameters": [_path_id(_JOB_ID)],
    "responses": {
        "200": json_response("The job.", "Job", {
            "id": _JOB_ID, "status": "succeeded", "phase": "Succeeded", "reason": "ThumbnailReady",
            "message": "100x100 image/jpeg, 4232 bytes", "created_at": "2026-11-30T04:04:36Z",
            "completed_at": "2026-11-30T04:04:37Z", "thumbnail_url": f"/v1/jobs/{_JOB_ID}/thumbnail",
            "source": _SOURCE, "size": {"width": 100, "height": 100}, "fit": "cover", "format": None,
            "thumbnail": {"width": 100, "height": 100, "content_type": "image/jpeg", "bytes": 4232}}),
        "404": _NOT_FOUND,
        "503": _UNAVAILABLE,
    },
}

_DELETE = {
    "summary": "Delete a job (its ThumbnailJob; Kubernetes garbage-collects the Job and pods)",
    "tags": ["jobs"],
    "parameters": [_path_id()],
    "responses": {"204": {"description": "Deleted (no body)."}, "404": _NOT_FOUND, "503": _UNAVAILABLE},
}

_THUMBNAIL = {
    "summary": "Fetch the thumbnail of a succeeded job",
    "tags": ["jobs"],
    "parameters": [_path_id(), {"name": "If-None-Match", "in": "header", "schema": {"type": "string"},
                                "description": "An ETag from an earlier answer."}],
    "responses": {
        "200": {
            "description": "The thumbnail.",
            "headers": {
                "ETag": {"schema": {"type": "string"}},
                "Cache-Control": {"schema": {"type": "string"}, "example": "private, max-age=60"},
                "Content-Disposition": {"schema": {"type": "string"}, "example": f'inline; filename="{_JOB_ID}.jpg"'},
            },
            "content": {media: _BINARY for media in ("image/jpeg", "image/png", "image/gif", "image/webp")},
        },
        "304": {"description": "Not modified (If-None-Match matched the ETag)."},
        "404": _NOT_FOUND,
        "409": problem_response(
            "The job is still processing (with Retry-After: poll again then), or it failed (the problem carries "
            "its reason).",
            problem_example(409, "job-failed", "Job failed", f"job {_JOB_ID} failed: the image file is truncated",
                            instance=None, reason="TruncatedImage"),
            headers={"Retry-After": {"description": "While processing: seconds to wait before asking again.",
                                     "schema": {"type": "integer"}}}),
        "503": _UNAVAILABLE,
    },
}

_LIVENESS = {
    "summary": "Liveness (the process answers)",
    "tags": ["health"],
    "responses": {"200": json_response("Alive.", "Health", {"status": "ok"})},
}

_READINESS = {
    "summary": "Readiness (the object store and the API server both answer)",
    "tags": ["health"],
    "responses": {
        "200": json_response("Ready.", "Health",
                             {"status": "ready", "checks": {"object_store": "ok", "kubernetes_api": "ok"}}),
        "503": _UNAVAILABLE,
    },
}

#: URI template -> HTTP method (lower case) -> OpenAPI Operation Object.
OPERATIONS: dict[str, dict[str, dict]] = {
    "/v1/jobs": {"get": _LIST, "post": _UPLOAD},
    "/v1/jobs/{job_id}": {"get": _READ, "delete": _DELETE},
    "/v1/jobs/{job_id}/thumbnail": {"get": _THUMBNAIL},
    "/healthz": {"get": _LIVENESS},
    "/readyz": {"get": _READINESS},
}
