"""Query parameters: every parameter of this API is one value, integers are ASCII digits in range,
and an unknown parameter is an error (a misspelt option must not quietly give a default thumbnail).
Each failure is a 400 problem ``invalid-parameter`` naming the parameter (member ``parameter``)."""

from __future__ import annotations

import re

import falcon

from thumbnailer import api

from .problems import Problem
from .views import STATUS_SELECTORS

_ASCII_DIGITS = re.compile(r"[0-9]+")
#: The query parameters of an upload: the thumbnail asked for.
UPLOAD_PARAMETERS = ("width", "height", "fit", "format")
#: The query parameters of ``GET /v1/jobs``.
LIST_PARAMETERS = ("limit", "continue", "status")
#: The cache-busting parameter a GET may carry and the list ignores (jQuery's ``cache: false`` sends ``_=<ms>``).
CACHE_BUSTER = "_"
#: Page sizes of ``GET /v1/jobs``: the default and the largest, in jobs.
DEFAULT_PAGE, MAX_PAGE = 100, 500


def invalid_parameter(name: str, detail: str) -> Problem:
    """400 ``invalid-parameter`` naming the query parameter ``name`` (member ``parameter``)."""
    return Problem(falcon.HTTP_400, "invalid-parameter", "Invalid parameter", detail, parameter=name)


def query_param(req: falcon.Request, name: str) -> str | None:
    """The query parameter ``name``, or None when absent.

    One given more than once (``width=10&width=20``) is ambiguous, so it is a 400, not "the last one wins".
    """
    value = req.params.get(name)
    if isinstance(value, list):
        raise invalid_parameter(name, f"{name} is given {len(value)} times; give it once")
    return value


def int_param(req: falcon.Request, name: str, low: int, high: int) -> int | None:
    """The query parameter ``name`` as an integer from ``low`` to ``high``, or None when absent.

    Only ASCII digits are accepted (Python's ``int()`` would also take ``１０`` or ``10_0``).
    """
    raw = query_param(req, name)
    if raw is None:
        return None
    significant = raw.lstrip("0") or "0"
    if not _ASCII_DIGITS.fullmatch(raw) or len(significant) > len(str(high)) or not low <= int(significant) <= high:
        raise invalid_parameter(name, f"{name} must be an integer from {low} to {high}")
    return int(significant)


def choice_param(req: falcon.Request, name: str, allowed: tuple[str, ...]) -> str | None:
    """The query parameter ``name`` if it is one of ``allowed``, or None when absent."""
    raw = query_param(req, name)
    if raw is not None and raw not in allowed:
        raise invalid_parameter(name, f"{name} must be one of {', '.join(allowed)}")
    return raw


def reject_unknown(req: falcon.Request, known: tuple[str, ...], what: str, ignored: tuple[str, ...] = ()) -> None:
    """400 naming the first query parameter of ``req`` neither in ``known`` nor in ``ignored``
    (``what`` names the operation in the detail: ``"uploads"``)."""
    unknown = sorted(set(req.params) - set(known) - set(ignored))
    if unknown:
        raise invalid_parameter(unknown[0], f"unknown parameter {unknown[0]!r}: {what} take "
                                            f"{', '.join(known[:-1])} and {known[-1]}")


def upload_spec(req: falcon.Request) -> dict:
    """The ThumbnailJob spec an upload's query string asks for: ``{"size": {"width", "height"}, "fit",
    "format"}``, each only when given (the CRD's defaults fill in the rest)."""
    reject_unknown(req, UPLOAD_PARAMETERS, "uploads")
    spec: dict = {}
    size = {dim: value for dim in ("width", "height")
            if (value := int_param(req, dim, 1, api.MAX_DIMENSION)) is not None}
    if size:
        spec["size"] = size
    for name, allowed in (("fit", api.FITS), ("format", api.OUTPUT_FORMATS)):
        value = choice_param(req, name, allowed)
        if value is not None:
            spec[name] = value
    return spec


def list_query(req: falcon.Request) -> tuple[int, str, str | None]:
    """``GET /v1/jobs``'s (page size, continue token or ``""``, public status or None).

    An unknown parameter is a 400 here too (``?stauts=failed`` must not list every job), except
    :data:`CACHE_BUSTER`; the single-job GETs ignore extra parameters.
    """
    reject_unknown(req, LIST_PARAMETERS, "job listings", ignored=(CACHE_BUSTER,))
    limit = int_param(req, "limit", 1, MAX_PAGE) or DEFAULT_PAGE
    status = choice_param(req, "status", tuple(STATUS_SELECTORS))
    return limit, query_param(req, "continue") or "", status
