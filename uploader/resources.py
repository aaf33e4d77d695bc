"""Falcon resources: each responder parses, calls one collaborator, answers."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time

import falcon

from thumbnailer import api
from thumbnailer.sniff import STILL_FORMATS, check_output_budget

from .intake import CountingInput, ImageRejected, TooLarge, Upload, inspect, read_chunks, spool
from .observability import DEPENDENCY_ERRORS, UPLOAD_BYTES
from .problems import Problem
from .settings import UploaderSettings
from .store import ObjectNotFound, Store, StoreUnavailable
from .thumbnailjobs import AlreadyExists, ClusterUnavailable, ContinueExpired, ContinueInvalid, ThumbnailJobs
from .views import deleting, effective_options, job_view, public_status

log = logging.getLogger("uploader")
RETRY_AFTER_SECONDS = 5
_FITS = api.FITS
_FORMATS = api.OUTPUT_FORMATS
_ID = re.compile(r"^[a-z0-9]([-a-z0-9]{0,251}[a-z0-9])?$")
_ASCII_DIGITS = re.compile(r"[0-9]+")

# ImageRejected reasons -> (HTTP status, problem slug)
_REJECTED = {
    "ImageTooLarge": (falcon.HTTP_422, "image-too-large"),
    "EmptyFile": (falcon.HTTP_400, "empty-upload"),
    "CorruptImage": (falcon.HTTP_415, "unsupported-media-type"),
    "MetadataTooLarge": (falcon.HTTP_422, "metadata-too-large"),
    "OutputTooLarge": (falcon.HTTP_422, "output-too-large"),
    "TooComplex": (falcon.HTTP_422, "image-too-complex"),
}


_B32 = "0123456789abcdefghijklmnopqrstuv"  # base32hex: sorts like the numbers it encodes
#: For answers given before the body was read to its end: the rest is not read, the connection is closed
#: (gunicorn would otherwise drain the unread body to keep the connection alive).
_CLOSE = {"Connection": "close"}

_STATUS_SELECTORS = {
    "succeeded": f"status.phase={api.PHASE_SUCCEEDED}",
    "failed": f"status.phase={api.PHASE_FAILED}",
    "processing": f"status.phase!={api.PHASE_SUCCEEDED},status.phase!={api.PHASE_FAILED}",
}


def _cut_off(req: falcon.Request) -> bool:
    """Whether fewer bytes arrived than the request's Content-Length announced."""
    body = req.env["wsgi.input"]
    return isinstance(body, CountingInput) and body.received < (req.content_length or 0)


def _incomplete(content_length: int) -> Problem:
    """400 for a body that ended before its Content-Length (the client closed the connection)."""
    return Problem(falcon.HTTP_400, "incomplete-body", "Incomplete upload",
                   f"the body ended before the {content_length} bytes its Content-Length announced "
                   "(the connection was closed); nothing was stored", headers=_CLOSE)


def base32hex(n: int, chars: int) -> str:
    """The low ``5 * chars`` bits of ``n`` as ``chars`` base32hex characters, most significant first."""
    return "".join(_B32[(n >> (5 * i)) & 31] for i in reversed(range(chars)))


def new_job_id(now_ms: int | None = None) -> str:
    """A fresh job ID (the ThumbnailJob's name): ``tj-`` + 9 time characters + 7 random ones.

    The time part is (2**45 - milliseconds since the epoch) in base32hex, so IDs
    sort newest first: the API server lists objects in name order, which makes
    ``GET /v1/jobs`` newest first with the API server's own pagination.
    """
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    n = 2**45 - ms
    return "tj-" + base32hex(n, 9) + "".join(secrets.choice(_B32) for _ in range(7))


def keyed_job_id(key: str) -> str:
    """The job ID of an upload sent with Idempotency-Key ``key``: ``tj-`` + 16 base32hex characters of SHA-256(key).

    Deterministic, so the API server's name uniqueness decides between concurrent
    retries: one create succeeds, the others get AlreadyExists and replay it. The
    cost: such IDs do not sort by age among the time-ordered ones.
    """
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:10], "big")
    return "tj-" + base32hex(digest, 16)


def invalid_parameter(name: str, detail: str) -> Problem:
    """400 ``invalid-parameter`` naming the query parameter ``name`` (member ``parameter``)."""
    return Problem(falcon.HTTP_400, "invalid-parameter", "Invalid parameter", detail, parameter=name)


def query_param(req: falcon.Request, name: str) -> str | None:
    """The query parameter ``name``, or None when absent.

    Every parameter of this API is a single value: one given more than once
    (``width=10&width=20``) is ambiguous, so it is a 400, not "the last one wins".
    """
    value = req.params.get(name)
    if isinstance(value, list):
        raise invalid_parameter(name, f"{name} is given {len(value)} times; give it once")
    return value


def int_param(req: falcon.Request, name: str, low: int, high: int) -> int | None:
    """The query parameter ``name`` as an integer from ``low`` to ``high``, or None when absent.

    Only ASCII digits are accepted (Python's ``int()`` would also take ``１０``
    or ``10_0``); anything else, or a value out of range, is a 400 naming the parameter.
    """
    raw = query_param(req, name)
    if raw is None:
        return None
    significant = raw.lstrip("0") or "0"
    if not _ASCII_DIGITS.fullmatch(raw) or len(significant) > len(str(high)) or not low <= int(significant) <= high:
        raise invalid_parameter(name, f"{name} must be an integer from {low} to {high}")
    return int(significant)


def request_fingerprint(sha256: str, options: dict) -> tuple:
    """What makes two uploads "the same request" for an Idempotency-Key: the bytes
    (their SHA-256) and the thumbnail asked for, defaults filled in (``width``,
    ``height``, ``fit``, ``format``)."""
    return sha256, tuple(sorted(effective_options(options).items()))


def unavailable(what: str, error: Exception) -> Problem:
    """503 with Retry-After, naming the dependency that failed (and counting it in the metrics)."""
    DEPENDENCY_ERRORS.labels(what).inc()
    return Problem(falcon.HTTP_503, f"{what}-unavailable", f"The {what.replace('-', ' ')} is unavailable",
                   str(error), retry_after=RETRY_AFTER_SECONDS)


class JobsResource:
    """``POST /v1/jobs`` (upload) and ``GET /v1/jobs`` (list)."""

    def __init__(self, settings: UploaderSettings, store: Store, jobs: ThumbnailJobs):
        self.settings, self.store, self.jobs = settings, store, jobs

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Upload an image and start a thumbnail job.
        ---
        summary: Upload an image; a ThumbnailJob makes its thumbnail
        description: >-
          The image is sniffed from its bytes (never the file name or Content-Type), checked
          (byte limit, declared pixel count), stored in the S3 bucket, and a ThumbnailJob is
          created whose name is the job ID. Poll the Location, then fetch thumbnail_url.
          Send a Content-Length (chunked uploads get 411); a body that stops arriving for
          BODY_READ_TIMEOUT_SECONDS gets 408 and nothing is stored. With an Idempotency-Key,
          a retry with the same bytes and the same parameters returns the job the first
          request created; the same key with other bytes or parameters is 422.
          Each query parameter may be given once; integers are ASCII digits.
        tags: [jobs]
        parameters:
          - {name: width, in: query, schema: {type: integer, minimum: 1, maximum: 4096, default: 100}}
          - {name: height, in: query, schema: {type: integer, minimum: 1, maximum: 4096, default: 100}}
          - {name: fit, in: query, schema: {type: string, enum: [cover, contain, fill], default: cover}}
          - {name: format, in: query, description: "Output format; leave it out to choose from the source (JPEG for opaque stills, PNG with transparency, GIF for animations).",
             schema: {type: string, enum: [png, jpeg, webp, gif]}}
          - {name: Idempotency-Key, in: header, schema: {type: string, maxLength: 255}, example: upload-7f3a}
        requestBody:
          required: true
          content:
            multipart/form-data:
              schema: {type: object, required: [image], properties: {image: {type: string, format: binary}}}
            application/octet-stream:
              schema: {type: string, format: binary}
            image/*:
              schema: {type: string, format: binary}
        responses:
          "202":
            description: Accepted; the job is processing.
            headers:
              Location: {description: The job's URL., schema: {type: string}, example: /v1/jobs/tj-0ovqj2g1d4h5k7m}
            content:
              application/json:
                schema: {$ref: "#/components/schemas/Job"}
                example: {id: tj-0ovqj2g1d4h5k7m, status: processing, phase: Pending, reason: null, message: null,
                          created_at: "2026-11-30T04:04:36Z", completed_at: null, thumbnail_url: null,
                          source: {bucket: thumbnails, key: uploads/default/tj-0ovqj2g1d4h5k7m.jpg},
                          size: {width: 100, height: 100}, fit: cover, format: null}
          "400": {description: "An invalid parameter (named in `parameter`), a form without exactly one `image` field or with any other field, a malformed form, or a body that ended before its Content-Length (`incomplete-body`: the client closed the connection; nothing was stored).", content: {application/problem+json: {schema: {$ref: "#/components/schemas/Problem"}, examples: {parameter: {value: {type: "https://thumbnailer.dev/problems/invalid-parameter", title: Invalid parameter, status: 400, detail: "fit must be one of cover, contain, fill", instance: /v1/jobs, parameter: fit}}, incomplete: {value: {type: "https://thumbnailer.dev/problems/incomplete-body", title: Incomplete upload, status: 400, detail: "the body ended before the 61306 bytes its Content-Length announced (the connection was closed); nothing was stored", instance: /v1/jobs}}}}}}
          "408": {description: "The body stopped arriving (no bytes for BODY_READ_TIMEOUT_SECONDS); nothing was stored and the connection is closed.", headers: {Connection: {schema: {type: string}, example: close}}, content: {application/problem+json: {schema: {$ref: "#/components/schemas/Problem"}, example: {type: "https://thumbnailer.dev/problems/request-timeout", title: Request timeout, status: 408, detail: "the upload stopped arriving: no bytes for 30 seconds; nothing was stored", instance: /v1/jobs}}}}
          "411": {description: No Content-Length (chunked upload)., content: {application/problem+json: {schema: {$ref: "#/components/schemas/Problem"}, example: {type: "https://thumbnailer.dev/problems/length-required", title: Length required, status: 411, detail: "send the upload with a Content-Length header (chunked uploads are not accepted)", instance: /v1/jobs}}}}
          "413": {description: Over the byte limit (decided from Content-Length or while streaming)., content: {application/problem+json: {schema: {$ref: "#/components/schemas/Problem"}, example: {type: "https://thumbnailer.dev/problems/payload-too-large", title: Upload too large, status: 413, detail: "the upload is 62914560 bytes; the limit is 52428800 bytes", instance: /v1/jobs, limit: 52428800}}}}
          "415": {description: Not an accepted image type (sniffed from the bytes)., content: {application/problem+json: {schema: {$ref: "#/components/schemas/Problem"}, example: {type: "https://thumbnailer.dev/problems/unsupported-media-type", title: Image not accepted, status: 415, detail: "the file is HTML, not an image", reason: NotAnImage}}}}
          "422":
            description: >-
              The header declares more pixels than the limit (decompression bomb, reason
              ImageTooLarge), the thumbnail asked for is over the output budget MAX_OUTPUT_PIXELS
              (width x height x frames kept, reason OutputTooLarge), or the
              Idempotency-Key was used for another upload: other bytes, or another width, height,
              fit or format (slug idempotency-key-reused).
            content:
              application/problem+json:
                schema: {$ref: "#/components/schemas/Problem"}
                example: {type: "https://thumbnailer.dev/problems/image-too-large", title: Image not accepted, status: 422, detail: "the image declares 10000x10000 pixels (100.0 megapixels), over the limit of 89.5 megapixels (decompression bomb protection)", instance: /v1/jobs, reason: ImageTooLarge}
          "503": {$ref: "#/components/responses/Unavailable"}
        """
        options = self._options(req)
        key_header = req.get_header("Idempotency-Key")
        if key_header is not None and not 1 <= len(key_header) <= 255:
            raise Problem(falcon.HTTP_400, "invalid-idempotency-key", "Invalid Idempotency-Key",
                          "the Idempotency-Key header must be 1 to 255 characters")
        upload = self._receive(req)
        self._check_output_budget(upload, options)
        if key_header is None:
            job_id = new_job_id()
            key = f"{self.settings.source_prefix}/{self.jobs.namespace}/{job_id}.{upload.extension}"
        else:
            job_id = keyed_job_id(key_header)
            previous = get_job(self.jobs, job_id)
            if previous is not None:
                upload.file.close()
                self._replay(resp, previous, upload.sha256, options)
                return
            # A concurrent retry may be storing its source too: each writes its own object.
            key = f"{self.settings.source_prefix}/{self.jobs.namespace}/{job_id}-{secrets.token_hex(4)}.{upload.extension}"
        try:
            self.store.put(key, upload.file, upload.size, upload.media_type)
        except StoreUnavailable as e:
            raise unavailable("object-store", e) from e
        finally:
            upload.file.close()
        labels = {api.LABEL_CREATED_BY: api.CREATED_BY_UPLOADER}
        manifest = {
            "apiVersion": api.API_VERSION, "kind": api.KIND,
            "metadata": {"name": job_id, "labels": labels, "annotations": {api.ANNOTATION_SHA256: upload.sha256}},
            "spec": {"source": {"bucket": self.store.bucket, "key": key}, **options},
        }
        try:
            tj = self.jobs.create(manifest)
        except AlreadyExists as e:
            self._forget(key)
            winner = get_job(self.jobs, job_id) if key_header is not None else None
            if winner is None:
                raise unavailable("kubernetes-api", e) from e
            self._replay(resp, winner, upload.sha256, options)  # a concurrent retry with this key won
            return
        except ClusterUnavailable as e:
            self._forget(key)
            raise unavailable("kubernetes-api", e) from e
        UPLOAD_BYTES.observe(upload.size)
        log.info("accepted %s: %s %dx%d, %d bytes -> %s", job_id, upload.format, upload.width, upload.height,
                 upload.size, key, extra={"job_id": job_id})
        resp.status = falcon.HTTP_202
        resp.location = f"/v1/jobs/{job_id}"
        resp.media = job_view(tj)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List jobs.
        ---
        summary: List jobs, newest first, a page at a time
        description: >-
          Jobs created through this API are listed newest first (their IDs sort that way);
          ThumbnailJobs applied directly to the cluster appear in name order among them.
          Pages come from the API server's own consistent list with its continue token.
        tags: [jobs]
        parameters:
          - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 500, default: 100}}
          - {name: continue, in: query, description: The continue token of the previous page (a malformed one is 400)., schema: {type: string}}
          - {name: status, in: query, schema: {type: string, enum: [processing, succeeded, failed]}}
        responses:
          "200":
            description: One page of jobs.
            content:
              application/json:
                schema: {$ref: "#/components/schemas/JobList"}
                example: {items: [{id: tj-0ovqj2g1d4h5k7m, status: processing, phase: Running, reason: Rendering,
                                   message: the resizer is making the thumbnail, created_at: "2026-11-30T04:04:36Z",
                                   completed_at: null, thumbnail_url: null, size: {width: 100, height: 100},
                                   fit: cover, format: null}],
                          continue: "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTIzfQ"}
          "400":
            description: Invalid parameter (named in `parameter`), including a malformed continue token.
            content:
              application/problem+json:
                schema: {$ref: "#/components/schemas/Problem"}
                example: {type: "https://thumbnailer.dev/problems/invalid-parameter", title: Invalid parameter, status: 400,
                          detail: "the continue token is not one this API issued; list again without it",
                          instance: /v1/jobs, parameter: continue}
          "410": {description: The continue token expired; list again from the start., content: {application/problem+json: {schema: {$ref: "#/components/schemas/Problem"}, example: {type: "https://thumbnailer.dev/problems/continue-expired", title: Continue token expired, status: 410, instance: /v1/jobs}}}}
          "503": {$ref: "#/components/responses/Unavailable"}
        """
        limit = int_param(req, "limit", 1, 500) or 100
        status = query_param(req, "status")
        if status is not None and status not in _STATUS_SELECTORS:
            raise invalid_parameter("status", f"status must be one of {', '.join(_STATUS_SELECTORS)}")
        continue_token = query_param(req, "continue") or ""
        try:
            items, token = self.jobs.page(limit, continue_token, _STATUS_SELECTORS.get(status or "", ""))
        except ContinueInvalid as e:
            raise invalid_parameter("continue", "the continue token is not one this API issued; "
                                                "list again without it") from e
        except ContinueExpired as e:
            raise Problem(falcon.HTTP_410, "continue-expired", "Continue token expired",
                          "the listing changed too much since this token was issued; start again without it") from e
        except ClusterUnavailable as e:
            raise unavailable("kubernetes-api", e) from e
        resp.media = {"items": [job_view(tj) for tj in items if not deleting(tj)], "continue": token}

    on_head = on_get  # falcon drops the body of a HEAD answer and keeps its headers

    @staticmethod
    def _check_same_request(previous: dict, sha256: str, options: dict) -> None:
        """422 unless ``previous`` (the job created with this Idempotency-Key) was made from
        the same bytes with the same effective width, height, fit and format."""
        before = request_fingerprint(previous["metadata"].get("annotations", {}).get(api.ANNOTATION_SHA256, ""),
                                     previous.get("spec") or {})
        now = request_fingerprint(sha256, options)
        if before == now:
            return
        if before[0] != now[0]:
            what = "other bytes"
        else:
            old, new = dict(before[1]), dict(now[1])
            what = "other parameters: " + ", ".join(f"{k} {new[k]}, not {old[k]}" for k in old if old[k] != new[k])
        raise Problem(falcon.HTTP_422, "idempotency-key-reused", "Idempotency-Key reused",
                      f"this Idempotency-Key was already used for a different upload ({what})")

    def _replay(self, resp: falcon.Response, previous: dict, sha256: str, options: dict) -> None:
        """Answer with the job an earlier request with the same Idempotency-Key created (422 if it differs)."""
        self._check_same_request(previous, sha256, options)
        resp.status = falcon.HTTP_202
        resp.location = f"/v1/jobs/{previous['metadata']['name']}"
        resp.set_header("Idempotent-Replayed", "true")
        resp.media = job_view(previous)

    def _check_output_budget(self, upload: Upload, options: dict) -> None:
        """422 ``OutputTooLarge`` when the thumbnail asked for (width x height x frames kept) is
        over ``MAX_OUTPUT_PIXELS``: known here, so refused before anything is stored."""
        size = options.get("size", {})
        frames = 1 if options.get("format") in STILL_FORMATS else upload.frames
        try:
            check_output_budget(size.get("width", api.DEFAULT_WIDTH), size.get("height", api.DEFAULT_HEIGHT), frames,
                                self.settings.max_output_pixels)
        except ImageRejected as e:
            upload.file.close()
            status, slug = _REJECTED[e.reason]
            raise Problem(status, slug, "Image not accepted", e.message, reason=e.reason) from e

    def _options(self, req: falcon.Request) -> dict:
        """Thumbnail options from the query string: width, height, fit, format.

        Any other parameter is a 400 naming it: a misspelt option (``widht=300``)
        must not quietly give a thumbnail of the default size.
        """
        unknown = sorted(set(req.params) - {"width", "height", "fit", "format"})
        if unknown:
            raise invalid_parameter(unknown[0], f"unknown parameter {unknown[0]!r}: uploads take width, height, "
                                                "fit and format")
        spec: dict = {}
        size = {}
        for dim in ("width", "height"):
            value = int_param(req, dim, 1, api.MAX_DIMENSION)
            if value is not None:
                size[dim] = value
        if size:
            spec["size"] = size
        for name, allowed in (("fit", _FITS), ("format", _FORMATS)):
            raw = query_param(req, name)
            if raw is not None:
                if raw not in allowed:
                    raise invalid_parameter(name, f"{name} must be one of {', '.join(allowed)}")
                spec[name] = raw
        return spec

    def _receive(self, req: falcon.Request) -> Upload:
        """Read the image from a multipart field ``image`` or from the raw body.

        A body that stops arriving (no bytes for ``BODY_READ_TIMEOUT_SECONDS``: the
        socket timeout set by :class:`uploader.app.UploaderApp`) is a 408, and one that
        ends before its Content-Length (the client closed the connection) a 400
        ``incomplete-body``; both with ``Connection: close``, what was read is
        discarded and nothing is stored.
        """
        limit = self.settings.max_upload_bytes
        if req.content_length is not None and req.content_length > limit + 64 * 1024:
            raise Problem(falcon.HTTP_413, "payload-too-large", "Upload too large",
                          f"the upload is {req.content_length} bytes; the limit is {limit} bytes", limit=limit,
                          headers=_CLOSE)
        if req.content_length is None:
            raise Problem(falcon.HTTP_411, "length-required", "Length required",
                          "send the upload with a Content-Length header (chunked uploads are not accepted)",
                          headers=_CLOSE)
        try:
            if (req.content_type or "").startswith("multipart/form-data"):
                file, size, sha256 = self._multipart(req)
            else:
                file, size, sha256 = spool(read_chunks(req.bounded_stream), limit, self.settings.spool_memory_bytes)
            try:
                req.bounded_stream.exhaust()  # a multipart epilogue, if any
            except BaseException:
                file.close()
                raise
        except falcon.MediaMalformedError:
            if _cut_off(req):  # the form is cut short because the body is
                raise _incomplete(req.content_length) from None
            raise
        except TooLarge as e:
            raise Problem(falcon.HTTP_413, "payload-too-large", "Upload too large", str(e), limit=limit,
                          headers=_CLOSE) from e
        except TimeoutError as e:  # socket.timeout is TimeoutError
            seconds = f"{self.settings.body_read_timeout_seconds:g}"
            log.warning("upload stalled: no bytes for %s seconds; answered 408", seconds)
            raise Problem(falcon.HTTP_408, "request-timeout", "Request timeout",
                          f"the upload stopped arriving: no bytes for {seconds} seconds; nothing was stored",
                          headers=_CLOSE) from e
        if _cut_off(req):  # the client closed the connection before sending everything
            file.close()
            raise _incomplete(req.content_length)
        try:
            return inspect(file, size, sha256, self.settings.max_pixels, self.settings.max_frames)
        except ImageRejected as e:
            file.close()
            status, slug = _REJECTED.get(e.reason, (falcon.HTTP_415, "unsupported-media-type"))
            raise Problem(status, slug, "Image not accepted", e.message, reason=e.reason) from e

    def _multipart(self, req: falcon.Request):
        """Spool the form's one field, ``image``.

        The whole form is read, so a form cut short (no closing delimiter) raises
        falcon's ``MultipartParseError`` (a ``MediaMalformedError``). Raises
        :class:`Problem` 400 when there is no ``image`` field, more than one, or any
        other field (``-F width=300`` must not quietly give a default-size thumbnail).
        """
        image = None
        try:
            for part in req.get_media():
                if part.name != "image" and part.filename:  # -F file=@cat.jpg: the usual slip
                    raise Problem(falcon.HTTP_400, "missing-image", "No image in the form",
                                  f"send the image in the multipart/form-data field named 'image', "
                                  f"not {part.name!r}", parameter=part.name)
                if part.name != "image":
                    raise Problem(falcon.HTTP_400, "unknown-field", "Unknown form field",
                                  f"unknown form field {part.name!r}: the form takes one field, 'image'; "
                                  "thumbnail options go in the query string (?width=300&height=200)",
                                  parameter=part.name)
                if image is not None:
                    raise Problem(falcon.HTTP_400, "repeated-field", "Repeated form field",
                                  "the form has more than one 'image' field; send one", parameter="image")
                else:
                    image = spool(read_chunks(part.stream), self.settings.max_upload_bytes,
                                  self.settings.spool_memory_bytes)
        except BaseException:
            if image is not None:
                image[0].close()
            raise
        if image is None:
            raise Problem(falcon.HTTP_400, "missing-image", "No image in the form",
                          "send the image in the multipart/form-data field named 'image'")
        return image

    def _forget(self, key: str) -> None:
        try:
            self.store.delete(key)
        except StoreUnavailable:
            log.warning("could not remove orphaned source %s", key)


class JobResource:
    """``GET /v1/jobs/{job_id}``."""

    def __init__(self, jobs: ThumbnailJobs):
        self.jobs = jobs

    def on_get(self, req: falcon.Request, resp: falcon.Response, job_id: str) -> None:
        """Read one job.
        ---
        summary: Read one job's status
        tags: [jobs]
        parameters:
          - {name: job_id, in: path, required: true, schema: {type: string}, example: tj-0ovqj2g1d4h5k7m}
        responses:
          "200":
            description: The job.
            content:
              application/json:
                schema: {$ref: "#/components/schemas/Job"}
                example: {id: tj-0ovqj2g1d4h5k7m, status: succeeded, phase: Succeeded, reason: ThumbnailReady,
                          message: "100x100 image/jpeg, 4232 bytes", created_at: "2026-11-30T04:04:36Z",
                          completed_at: "2026-11-30T04:04:37Z", thumbnail_url: /v1/jobs/tj-0ovqj2g1d4h5k7m/thumbnail,
                          source: {bucket: thumbnails, key: uploads/default/tj-0ovqj2g1d4h5k7m.jpg},
                          size: {width: 100, height: 100}, fit: cover, format: null,
                          thumbnail: {width: 100, height: 100, content_type: image/jpeg, bytes: 4232}}
          "404": {$ref: "#/components/responses/NotFound"}
          "503": {$ref: "#/components/responses/Unavailable"}
        """
        resp.media = job_view(find_job(self.jobs, job_id))

    on_head = on_get  # falcon drops the body of a HEAD answer and keeps its headers

    def on_delete(self, req: falcon.Request, resp: falcon.Response, job_id: str) -> None:
        """Delete a job.
        ---
        summary: Delete a job (its ThumbnailJob; Kubernetes garbage-collects the Job and pods)
        tags: [jobs]
        parameters:
          - {name: job_id, in: path, required: true, schema: {type: string}}
        responses:
          "204": {description: "Deleted (no body)."}
          "404": {$ref: "#/components/responses/NotFound"}
          "503": {$ref: "#/components/responses/Unavailable"}
        """
        find_job(self.jobs, job_id)
        try:
            self.jobs.delete(job_id)
        except ClusterUnavailable as e:
            raise unavailable("kubernetes-api", e) from e
        resp.status = falcon.HTTP_204


class ThumbnailResource:
    """``GET /v1/jobs/{job_id}/thumbnail``: the thumbnail bytes once the job succeeded."""

    def __init__(self, store: Store, jobs: ThumbnailJobs):
        self.store, self.jobs = store, jobs

    def on_get(self, req: falcon.Request, resp: falcon.Response, job_id: str) -> None:
        """Fetch the thumbnail.
        ---
        summary: Fetch the thumbnail of a succeeded job
        tags: [jobs]
        parameters:
          - {name: job_id, in: path, required: true, schema: {type: string}}
          - {name: If-None-Match, in: header, schema: {type: string}, description: An ETag from an earlier answer.}
        responses:
          "200":
            description: The thumbnail.
            headers:
              ETag: {schema: {type: string}}
              Cache-Control: {schema: {type: string}, example: "private, max-age=60"}
              Content-Disposition: {schema: {type: string}, example: 'inline; filename="tj-0ovqj2g1d4h5k7m.jpg"'}
            content:
              image/jpeg: {schema: {type: string, format: binary}}
              image/png: {schema: {type: string, format: binary}}
              image/gif: {schema: {type: string, format: binary}}
              image/webp: {schema: {type: string, format: binary}}
          "304": {description: Not modified (If-None-Match matched the ETag).}
          "404": {$ref: "#/components/responses/NotFound"}
          "409":
            description: The job is still processing, or it failed (the problem carries its reason).
            content:
              application/problem+json:
                schema: {$ref: "#/components/schemas/Problem"}
                example: {type: "https://thumbnailer.dev/problems/job-failed", title: Job failed, status: 409,
                          detail: "job tj-0ovqj2g1d4h5k7m failed: the image file is truncated", reason: TruncatedImage}
          "503": {$ref: "#/components/responses/Unavailable"}
        """
        tj = find_job(self.jobs, job_id)
        state = public_status(tj)
        st = tj.get("status") or {}
        if state == "processing":
            raise Problem(falcon.HTTP_409, "job-not-finished", "Thumbnail not ready",
                          f"job {job_id} is still processing; poll /v1/jobs/{job_id}", status_of_job=state)
        if state == "failed":
            raise Problem(falcon.HTTP_409, "job-failed", "Job failed",
                          f"job {job_id} failed: {st.get('message')}", reason=st.get("reason"),
                          status_of_job=state)
        out = st.get("output") or {}
        bucket, key = out.get("bucket", ""), out.get("key", "")
        try:
            tag, length, content_type = self.store.stat(bucket, key)
            etag = f'"{tag.strip(chr(34))}"'
            resp.etag = etag
            resp.cache_control = ["private", "max-age=60"]  # confidential images: no shared caches
            if etag in [t.strip() for t in (req.get_header("If-None-Match") or "").split(",")]:
                resp.status = falcon.HTTP_304
                return
            resp.content_type = out.get("contentType") or content_type
            resp.set_header("Content-Disposition", f'inline; filename="{job_id}.{key.rsplit(".", 1)[-1]}"')
            if req.method == "HEAD":  # the headers of GET, without reading the object
                resp.content_length = length
                return
            stream, length, _ = self.store.open(bucket, key)
        except ObjectNotFound as e:
            raise Problem(falcon.HTTP_404, "thumbnail-missing", "Thumbnail missing",
                          f"the thumbnail of job {job_id} is no longer in the store") from e
        except StoreUnavailable as e:
            raise unavailable("object-store", e) from e
        resp.set_stream(stream, length)

    on_head = on_get  # HEAD: the same headers, from the object's metadata (see above)


def get_job(jobs: ThumbnailJobs, job_id: str) -> dict | None:
    """The ThumbnailJob ``job_id``, or None if it does not exist; 503 problem if the API is down."""
    try:
        return jobs.get(job_id)
    except ClusterUnavailable as e:
        raise unavailable("kubernetes-api", e) from e


def find_job(jobs: ThumbnailJobs, job_id: str) -> dict:
    """The ThumbnailJob ``job_id``; 404 problem if it does not exist or is being deleted, 503 if the API is down."""
    if not _ID.match(job_id):
        raise Problem(falcon.HTTP_404, "job-not-found", "Job not found", f"no job with id {job_id!r}")
    tj = get_job(jobs, job_id)
    if tj is None:
        raise Problem(falcon.HTTP_404, "job-not-found", "Job not found", f"no job with id {job_id!r}")
    if deleting(tj):  # DELETE answered 204; the finalizer is still cleaning the store
        raise Problem(falcon.HTTP_404, "job-not-found", "Job not found", f"job {job_id!r} has been deleted")
    return tj


class HealthResource:
    """``GET /healthz``: the process is alive."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Liveness.
        ---
        summary: Liveness (the process answers)
        tags: [health]
        responses:
          "200": {description: Alive., content: {application/json: {schema: {$ref: "#/components/schemas/Health"}, example: {status: ok}}}}
        """
        resp.media = {"status": "ok"}

    on_head = on_get  # falcon drops the body of a HEAD answer and keeps its headers


class ReadyResource:
    """``GET /readyz``: the store and the API server both answer; 503 names the one that does not."""

    def __init__(self, store: Store, jobs: ThumbnailJobs):
        self.store, self.jobs = store, jobs

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Readiness.
        ---
        summary: Readiness (the object store and the API server both answer)
        tags: [health]
        responses:
          "200": {description: Ready., content: {application/json: {schema: {$ref: "#/components/schemas/Health"}, example: {status: ready, checks: {object_store: ok, kubernetes_api: ok}}}}}
          "503": {$ref: "#/components/responses/Unavailable"}
        """
        checks = {}
        for name, check in (("object_store", self.store.check), ("kubernetes_api", self.jobs.check)):
            try:
                check()
                checks[name] = "ok"
            except (StoreUnavailable, ClusterUnavailable) as e:
                checks[name] = str(e)
        failing = [k for k, v in checks.items() if v != "ok"]
        if failing:
            raise Problem(falcon.HTTP_503, "not-ready", "Not ready", f"unavailable: {', '.join(failing)}",
                          retry_after=RETRY_AFTER_SECONDS, checks=checks)
        resp.media = {"status": "ready", "checks": checks}

    on_head = on_get  # falcon drops the body of a HEAD answer and keeps its headers
