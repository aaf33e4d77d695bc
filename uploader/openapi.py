"""The OpenAPI 3 document, generated from the code with apispec, and Swagger UI served locally.

The operations are described in :mod:`uploader.operations`; the schemas come from the
pydantic models in :mod:`uploader.schemas`. Swagger UI's assets come from the swagger-ui-bundle
wheel and are served by this service (``/docs/static``), so ``/docs`` works in
an air-gapped cluster.
"""

from __future__ import annotations

import json
from importlib.metadata import version

import falcon
import swagger_ui_bundle
from apispec import APISpec

from .operations import OPERATIONS, RESPONSES
from .schemas import MODELS


def openapi30_schema(schema):
    """Rewrite a pydantic (JSON Schema 2020-12) schema into OpenAPI 3.0's dialect, recursively.

    ``examples: [x]`` becomes ``example: x`` and ``anyOf: [S, {type: null}]``
    becomes ``S`` with ``nullable: true`` (OpenAPI 3.0.3, Schema Object). Swagger
    UI 4 (the bundled one) reads 3.0, not 3.1.
    """
    if isinstance(schema, list):
        return [openapi30_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: openapi30_schema(v) for k, v in schema.items() if k not in ("examples", "anyOf", "const")}
    if "examples" in schema:
        out["example"] = schema["examples"][0]
    if "const" in schema:
        out["enum"] = [schema["const"]]
    if "anyOf" in schema:
        options = [o for o in schema["anyOf"] if o != {"type": "null"}]
        if len(options) < len(schema["anyOf"]):
            out["nullable"] = True
        if len(options) == 1:
            only = openapi30_schema(options[0])
            if "$ref" in only:  # siblings of $ref are ignored in 3.0: wrap it
                out["allOf"] = [only]
            else:
                out.update(only)
        else:
            out["anyOf"] = openapi30_schema(options)
    return out


def build_spec(operations: dict[str, dict[str, dict]] = OPERATIONS, server_url: str = "/") -> dict:
    """The OpenAPI 3.0 document as a dict: ``operations`` (URI template -> method -> Operation Object)
    with the component schemas of :data:`uploader.schemas.MODELS` and the shared error responses."""
    spec = APISpec(title="thumbnailer upload API", version=version("thumbnailer"), openapi_version="3.0.3",
                   info={"description": "Upload an image, follow its ThumbnailJob, fetch the thumbnail. "
                                        "Errors are RFC 9457 problem details (application/problem+json)."},
                   servers=[{"url": server_url}])
    for model in MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", by_alias=True)
        schema.pop("$defs", None)
        spec.components.schema(model.__name__, openapi30_schema(schema))
    for name, response in RESPONSES.items():
        spec.components.response(name, response)
    for path, methods in operations.items():
        spec.path(path=path, operations=methods)
    return spec.to_dict()


class OpenAPIResource:
    """``GET /openapi.json``: the OpenAPI document."""

    def __init__(self, document: dict):
        self._body = json.dumps(document).encode()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = "application/json"
        resp.data = self._body

    on_head = on_get  # falcon drops the body of a HEAD answer and keeps its headers


_DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>thumbnailer API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/static/swagger-ui-standalone-preset.js"></script>
<script src="/docs/static/init.js"></script>
</body></html>
"""
_INIT_JS = """window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: "StandaloneLayout",
  validatorUrl: null});
"""


class DocsResource:
    """``GET /docs``: Swagger UI, with every asset served by this service (no CDN)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.text = _DOCS_PAGE

    on_head = on_get  # falcon drops the body of a HEAD answer and keeps its headers


class DocsInitResource:
    """``GET /docs/static/init.js``: starts Swagger UI on ``/openapi.json`` (a file, for a strict CSP)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = "application/javascript"
        resp.text = _INIT_JS

    on_head = on_get  # falcon drops the body of a HEAD answer and keeps its headers


def add_docs_routes(app: falcon.App) -> None:
    """Mount ``/docs`` and the Swagger UI assets under ``/docs/static``."""
    app.add_route("/docs", DocsResource())
    app.add_route("/docs/static/init.js", DocsInitResource())
    app.add_static_route("/docs/static", swagger_ui_bundle.swagger_ui_path)
