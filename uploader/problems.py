"""RFC 9457 problem details: every error the API returns is ``application/problem+json``."""

from __future__ import annotations

import json
import re

import falcon

PROBLEM_TYPE_BASE = "https://thumbnailer.dev/problems/"


class Problem(falcon.HTTPError):
    """An HTTP error rendered as problem+json.

    ``slug`` becomes the ``type`` URI (``https://thumbnailer.dev/problems/<slug>``);
    ``extensions`` are extra members (RFC 9457 section 3.2), e.g. ``reason``.
    ``retry_after`` (seconds) sets the ``Retry-After`` header (for 503).
    """

    def __init__(self, status: str, slug: str, title: str, detail: str | None = None,
                 retry_after: int | None = None, headers: dict | None = None, **extensions):
        headers = dict(headers or {})
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        super().__init__(status, title=title, description=detail, headers=headers)
        self.slug = slug
        self.extensions = extensions

    def to_problem(self, instance: str) -> dict:
        """The problem object for a request to ``instance`` (the request path)."""
        body = {"type": PROBLEM_TYPE_BASE + self.slug, "title": self.title, "status": self.status_code,
                "instance": instance}
        if self.description:
            body["detail"] = self.description
        body.update(self.extensions)
        return body


def slug_of(title: str | None) -> str:
    """The ``type`` slug for an error known only by its title: ``"URI Too Long"`` -> ``"uri-too-long"``."""
    return re.sub(r"[^a-z0-9]+", "-", (title or "error").lower()).strip("-")


def serialize_error(req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError) -> None:
    """Falcon error serializer: render any HTTPError (ours or Falcon's own) as problem+json."""
    if isinstance(exc, Problem):
        body = exc.to_problem(req.path)
    else:
        body = {"type": PROBLEM_TYPE_BASE + slug_of(exc.title), "title": exc.title, "status": exc.status_code,
                "instance": req.path}
        if exc.description:
            body["detail"] = exc.description
    resp.content_type = "application/problem+json"
    resp.text = json.dumps(body)
