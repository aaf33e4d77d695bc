"""The one mapping from what can go wrong behind the API to its problem+json answer (RFC 9457),
installed as falcon error handlers, so the resources only parse, call and answer.

=============================================  ======  ==============================================
exception                                      status  problem ``type`` slug
=============================================  ======  ==============================================
:class:`~thumbnailer.api.ImageRejected`        by its  see :data:`REJECTED` (415 for every other
                                               reason  reason, e.g. ``NotAnImage``)
:class:`~uploader.idempotency.InvalidKey`      400     ``invalid-idempotency-key``
:class:`~uploader.thumbnailjobs.ContinueInvalid` 400   ``invalid-parameter`` (``parameter: continue``)
:class:`~uploader.uploads.JobNotFound`         404     ``job-not-found``
:class:`~uploader.thumbnailjobs.ContinueExpired` 410   ``continue-expired``
:class:`~uploader.idempotency.KeyReused`       422     ``idempotency-key-reused``
:class:`~thumbnailer.storetypes.StoreError`    503     ``object-store-unavailable`` (``Retry-After``)
:class:`~uploader.thumbnailjobs.ClusterUnavailable` 503 ``kubernetes-api-unavailable`` (``Retry-After``)
=============================================  ======  ==============================================
"""

from __future__ import annotations

from typing import Callable

import falcon

from thumbnailer.api import ImageRejected
from thumbnailer.storetypes import StoreError

from .idempotency import InvalidKey, KeyReused
from .observability import DEPENDENCY_ERRORS
from .params import invalid_parameter
from .problems import Problem
from .thumbnailjobs import ClusterUnavailable, ContinueExpired, ContinueInvalid
from .uploads import JobNotFound

#: Seconds a client is asked to wait (``Retry-After``) when a dependency is down.
RETRY_AFTER_SECONDS = 5

#: ImageRejected reasons the upload refuses with another status than 415: reason -> (HTTP status, slug).
REJECTED = {
    "ImageTooLarge": (falcon.HTTP_422, "image-too-large"),
    "EmptyFile": (falcon.HTTP_400, "empty-upload"),
    "CorruptImage": (falcon.HTTP_415, "unsupported-media-type"),
    "MetadataTooLarge": (falcon.HTTP_422, "metadata-too-large"),
    "OutputTooLarge": (falcon.HTTP_422, "output-too-large"),
    "TooComplex": (falcon.HTTP_422, "image-too-complex"),
}


def unavailable(what: str, error: Exception) -> Problem:
    """503 with Retry-After naming the dependency ``what`` (``object-store``, ``kubernetes-api``) that
    failed, and counted in the metrics."""
    DEPENDENCY_ERRORS.labels(what).inc()
    return Problem(falcon.HTTP_503, f"{what}-unavailable", f"The {what.replace('-', ' ')} is unavailable",
                   str(error), retry_after=RETRY_AFTER_SECONDS)


#: Each exception type -> its problem (a class here also covers its subclasses; the first match counts).
PROBLEMS: dict[type[Exception], Callable[[Exception], Problem]] = {
    ImageRejected: lambda e: Problem(*REJECTED.get(e.reason, (falcon.HTTP_415, "unsupported-media-type")),
                                     "Image not accepted", e.message, reason=e.reason),
    InvalidKey: lambda e: Problem(falcon.HTTP_400, "invalid-idempotency-key", "Invalid Idempotency-Key", str(e)),
    ContinueInvalid: lambda e: invalid_parameter(
        "continue", "the continue token is not one this API issued; list again without it"),
    JobNotFound: lambda e: Problem(falcon.HTTP_404, "job-not-found", "Job not found", str(e)),
    ContinueExpired: lambda e: Problem(
        falcon.HTTP_410, "continue-expired", "Continue token expired",
        "the listing changed too much since this token was issued; start again without it"),
    KeyReused: lambda e: Problem(falcon.HTTP_422, "idempotency-key-reused", "Idempotency-Key reused", str(e)),
    StoreError: lambda e: unavailable("object-store", e),
    ClusterUnavailable: lambda e: unavailable("kubernetes-api", e),
}


def problem_for(error: Exception) -> Problem:
    """The problem answering ``error`` (an instance of a type in :data:`PROBLEMS`)."""
    for kind, problem in PROBLEMS.items():
        if isinstance(error, kind):
            return problem(error)
    raise TypeError(f"no problem is defined for {type(error).__name__}")


def _handle(req: falcon.Request, resp: falcon.Response, error: Exception, params: dict) -> None:
    """A falcon error handler: raise the problem for ``error`` (falcon renders it with the app's serializer)."""
    raise problem_for(error) from error


def add_error_handlers(app: falcon.App) -> None:
    """Install the mapping on ``app``, for every exception type in :data:`PROBLEMS`."""
    app.add_error_handler(tuple(PROBLEMS), _handle)
