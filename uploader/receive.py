"""Receiving an upload from a falcon request: the raw body or one multipart field ``image``, bounded,
spooled and sniffed (:mod:`uploader.intake`), with the HTTP answers for a body that cannot be taken.

Every refusal made before the body was read to its end carries ``Connection: close``: the rest is
not read, and gunicorn would otherwise drain it to keep the connection alive.
"""

from __future__ import annotations

import logging
from typing import BinaryIO

import falcon

from .intake import CountingInput, TooLarge, Upload, inspect, read_chunks, spool
from .problems import Problem
from .settings import UploaderSettings

log = logging.getLogger("uploader")
#: Header for answers given before the body was read to its end.
CLOSE = {"Connection": "close"}
#: Bytes a multipart form may add to the image (boundaries, part headers) before Content-Length alone refuses it.
FORM_OVERHEAD = 64 * 1024


def _cut_off(req: falcon.Request) -> bool:
    """Whether fewer bytes arrived than the request's Content-Length announced."""
    body = req.env["wsgi.input"]
    return isinstance(body, CountingInput) and body.received < (req.content_length or 0)


def _incomplete(content_length: int) -> Problem:
    """400 for a body that ended before its Content-Length (the client closed the connection)."""
    return Problem(falcon.HTTP_400, "incomplete-body", "Incomplete upload",
                   f"the body ended before the {content_length} bytes its Content-Length announced "
                   "(the connection was closed); nothing was stored", headers=CLOSE)


def _too_large(detail: str, limit: int) -> Problem:
    return Problem(falcon.HTTP_413, "payload-too-large", "Upload too large", detail, limit=limit, headers=CLOSE)


def receive(req: falcon.Request, settings: UploaderSettings) -> Upload:
    """The upload in ``req``: a multipart/form-data field ``image``, or else the raw body.

    Refused, with nothing kept: over ``MAX_UPLOAD_BYTES`` (413, from Content-Length or while
    streaming), no Content-Length (411: chunked uploads are not half-read), a body that stops
    arriving for ``BODY_READ_TIMEOUT_SECONDS`` (408: the socket timeout set by
    :class:`uploader.app.UploaderApp`), one that ends before its Content-Length (400
    ``incomplete-body``), a malformed form (400). The image itself is checked by
    :func:`uploader.intake.inspect`, whose :class:`~thumbnailer.api.ImageRejected` is raised as it is.
    The caller closes ``Upload.file``.
    """
    limit = settings.max_upload_bytes
    if req.content_length is not None and req.content_length > limit + FORM_OVERHEAD:
        raise _too_large(f"the upload is {req.content_length} bytes; the limit is {limit} bytes", limit)
    if req.content_length is None:
        raise Problem(falcon.HTTP_411, "length-required", "Length required",
                      "send the upload with a Content-Length header (chunked uploads are not accepted)",
                      headers=CLOSE)
    try:
        if (req.content_type or "").startswith("multipart/form-data"):
            file, size, sha256 = _multipart(req, settings)
        else:
            file, size, sha256 = spool(read_chunks(req.bounded_stream), limit, settings.spool_memory_bytes)
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
        raise _too_large(str(e), limit) from e
    except TimeoutError as e:  # socket.timeout is TimeoutError
        seconds = f"{settings.body_read_timeout_seconds:g}"
        log.warning("upload stalled: no bytes for %s seconds; answered 408", seconds)
        raise Problem(falcon.HTTP_408, "request-timeout", "Request timeout",
                      f"the upload stopped arriving: no bytes for {seconds} seconds; nothing was stored",
                      headers=CLOSE) from e
    if _cut_off(req):  # the client closed the connection before sending everything
        file.close()
        raise _incomplete(req.content_length)
    try:
        return inspect(file, size, sha256, settings.max_pixels, settings.max_frames)
    except BaseException:
        file.close()
        raise


def _multipart(req: falcon.Request, settings: UploaderSettings) -> tuple[BinaryIO, int, str]:
    """Spool the form's one field, ``image``: (the rewound file, its size in bytes, its SHA-256 hex digest).

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
            image = spool(read_chunks(part.stream), settings.max_upload_bytes, settings.spool_memory_bytes)
    except BaseException:
        if image is not None:
            image[0].close()
        raise
    if image is None:
        raise Problem(falcon.HTTP_400, "missing-image", "No image in the form",
                      "send the image in the multipart/form-data field named 'image'")
    return image
