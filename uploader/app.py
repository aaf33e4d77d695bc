"""``create_app()``: the WSGI application (run by gunicorn: ``gunicorn 'uploader.app:create_app()'``)."""

from __future__ import annotations

import falcon
import urllib3

from thumbnailer.kubeclient import load_api_client

from .observability import MetricsResource, RequestContext, configure_logging
from .openapi import OpenAPIResource, add_docs_routes, build_spec
from .problems import serialize_error
from .resources import HealthResource, JobResource, JobsResource, ReadyResource, ThumbnailResource
from .settings import UploaderSettings
from .store import Store
from .thumbnailjobs import ThumbnailJobs


def create_app(settings: UploaderSettings | None = None, store: Store | None = None,
               jobs: ThumbnailJobs | None = None) -> falcon.App:
    """Wire the resources to their collaborators (built from ``settings`` unless given)."""
    configure_logging()
    settings = settings or UploaderSettings()
    store = store or Store(settings)
    jobs = jobs or ThumbnailJobs(load_api_client(urllib3.Timeout(connect=3, read=15)), settings.namespace)
    app = falcon.App(middleware=[RequestContext()])
    app.req_options.strip_url_path_trailing_slash = True
    app.set_error_serializer(serialize_error)
    routes = [
        ("/v1/jobs", JobsResource(settings, store, jobs)),
        ("/v1/jobs/{job_id}", JobResource(jobs)),
        ("/v1/jobs/{job_id}/thumbnail", ThumbnailResource(store, jobs)),
        ("/healthz", HealthResource()),
        ("/readyz", ReadyResource(store, jobs)),
    ]
    for path, resource in routes:
        app.add_route(path, resource)
    app.add_route("/metrics", MetricsResource())
    app.add_route("/openapi.json", OpenAPIResource(build_spec(routes)))
    add_docs_routes(app)
    return app
