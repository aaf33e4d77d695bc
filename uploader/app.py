"""``create_app()``: the WSGI application, run by gunicorn with the settings in
``uploader/gunicorn_conf.py``: ``gunicorn -c python:uploader.gunicorn_conf 'uploader.app:create_app()'``."""

from __future__ import annotations

import falcon
import urllib3

from thumbnailer.kubeclient import load_api_client
from thumbnailer.objectstore import ObjectStore
from thumbnailer.storetypes import Endpoint, Tuning
from thumbnailer.sniff import apply_pillow_limits

from .errors import add_error_handlers
from .intake import CountingInput
from .observability import MetricsResource, RequestContext, configure_logging
from .openapi import OpenAPIResource, add_docs_routes, build_spec
from .problems import serialize_error
from .resources import HealthResource, JobResource, JobsResource, ReadyResource, ThumbnailResource
from .settings import UploaderSettings
from .thumbnailjobs import ThumbnailJobs
from .uploads import Uploads

#: An API request waits little for the store: 3 s to connect, 30 s between bytes, two retries.
STORE_TUNING = Tuning(connect=3, read=30, retries=2, backoff=0.2, pool_size=16)


class UploaderApp(falcon.App):
    """The Falcon app, plus what only the server's connection can do for a request.

    Under gunicorn (which puts the client socket in the environ as
    ``gunicorn.socket``) every blocking read of the request body, and every
    write of the answer, waits at most ``socket_timeout`` seconds: a stalled
    upload raises :class:`TimeoutError` in the responder (which answers 408)
    instead of holding a thread for ever. gunicorn resets the socket's timeout
    itself before it reads the next request on the connection.

    An answer with ``Connection: close`` (the 408) makes gunicorn close the
    connection after it: gunicorn drops hop-by-hop headers an application
    sends and decides the ``Connection`` header itself, so the app asks its
    response object (the owner of ``start_response``) to close.
    """

    def __init__(self, socket_timeout: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.socket_timeout = socket_timeout

    def __call__(self, env: dict, start_response):
        """Serve one WSGI request (PEP 3333), with the socket timeout set for it and its
        body read through :class:`uploader.intake.CountingInput`."""
        env["wsgi.input"] = CountingInput(env["wsgi.input"])
        sock = env.get("gunicorn.socket")
        if sock is not None and self.socket_timeout is not None:
            sock.settimeout(self.socket_timeout)
        server_response = getattr(start_response, "__self__", None)
        force_close = getattr(server_response, "force_close", None)
        if force_close is None:
            return super().__call__(env, start_response)

        def start(status, headers, exc_info=None):
            if any(k.lower() == "connection" and v.strip().lower() == "close" for k, v in headers):
                force_close()
                headers = [(k, v) for k, v in headers if k.lower() != "connection"]
            return start_response(status, headers, exc_info)

        return super().__call__(env, start)


class OptionsAnswer:
    """Falcon middleware: ``OPTIONS`` on a route answers ``204 No Content`` with an ``Allow``
    header that names OPTIONS too, as a 405 on the same route does. Falcon's default responder
    answers 200 with an empty body (and an ``application/json`` type) and leaves OPTIONS out of
    ``Allow``; RFC 9110 9.3.7 says a 200 should carry a representation, and 204 says there is none."""

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource, req_succeeded: bool) -> None:
        if req.method != "OPTIONS" or resource is None or not req_succeeded or resp.status not in (200, falcon.HTTP_200):
            return
        allowed = [m.strip() for m in (resp.get_header("Allow") or "").split(",") if m.strip()]
        resp.status = falcon.HTTP_204
        resp.set_header("Allow", ", ".join([*allowed, *([] if "OPTIONS" in allowed else ["OPTIONS"])]))
        resp.content_type = None


def object_store(settings: UploaderSettings) -> ObjectStore:
    """The store as ``S3_ENDPOINT`` and the uploader's credentials reach it."""
    return ObjectStore(Endpoint(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key,
                                settings.s3_secure, settings.s3_region), STORE_TUNING)


def create_app(settings: UploaderSettings | None = None, store: ObjectStore | None = None,
               jobs: ThumbnailJobs | None = None) -> UploaderApp:
    """Wire the resources to their collaborators (built from ``settings`` unless given)."""
    configure_logging()
    apply_pillow_limits()  # before the first request: Pillow's limits are process-wide
    settings = settings or UploaderSettings()
    store = store or object_store(settings)
    jobs = jobs or ThumbnailJobs(load_api_client(urllib3.Timeout(connect=3, read=15), connections=settings.threads),
                                 settings.namespace)
    uploads = Uploads(settings, store, jobs)
    app = UploaderApp(socket_timeout=settings.body_read_timeout_seconds, middleware=[RequestContext(), OptionsAnswer()])
    app.req_options.strip_url_path_trailing_slash = True
    app.set_error_serializer(serialize_error)
    add_error_handlers(app)
    app.add_route("/v1/jobs", JobsResource(settings, uploads))
    app.add_route("/v1/jobs/{job_id}", JobResource(uploads))
    app.add_route("/v1/jobs/{job_id}/thumbnail", ThumbnailResource(uploads))
    app.add_route("/healthz", HealthResource())
    app.add_route("/readyz", ReadyResource(settings, store, jobs))
    app.add_route("/metrics", MetricsResource())
    app.add_route("/openapi.json", OpenAPIResource(build_spec()))
    add_docs_routes(app)
    return app
