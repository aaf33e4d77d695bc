"""``create_app()``: the WSGI application (run by gunicorn: ``gunicorn 'uploader.app:create_app()'``)."""

from __future__ import annotations

import logging

import falcon

from .problems import serialize_error
from .resources import HealthResource, JobResource, JobsResource, ReadyResource, ThumbnailResource
from .settings import UploaderSettings
from .store import Store
from .thumbnailjobs import ThumbnailJobs, load_api_client


def create_app(settings: UploaderSettings | None = None, store: Store | None = None,
               jobs: ThumbnailJobs | None = None) -> falcon.App:
    """Wire the resources to their collaborators (built from ``settings`` unless given)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s uploader %(levelname)s %(message)s")
    settings = settings or UploaderSettings()
    store = store or Store(settings)
    jobs = jobs or ThumbnailJobs(load_api_client(), settings.namespace)
    app = falcon.App()
    app.req_options.strip_url_path_trailing_slash = True
    app.set_error_serializer(serialize_error)
    app.add_route("/v1/jobs", JobsResource(settings, store, jobs))
    app.add_route("/v1/jobs/{job_id}", JobResource(jobs))
    app.add_route("/v1/jobs/{job_id}/thumbnail", ThumbnailResource(store, jobs))
    app.add_route("/healthz", HealthResource())
    app.add_route("/readyz", ReadyResource(store, jobs))
    return app
