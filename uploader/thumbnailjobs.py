"""The uploader's calls to the API server: create, read and list ThumbnailJobs."""

from __future__ import annotations

import urllib3
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from thumbnailer import api


class ClusterUnavailable(Exception):
    """The API server could not be reached or failed (HTTP 503 with Retry-After)."""


class AlreadyExists(Exception):
    """A ThumbnailJob with that name exists."""


def load_api_client() -> client.ApiClient:
    """An API client from the in-cluster service account, else ``$KUBECONFIG`` / ``~/.kube/config``."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    api_client = client.ApiClient()
    api_client.rest_client.pool_manager.connection_pool_kw["timeout"] = urllib3.Timeout(connect=3, read=15)
    return api_client


class ThumbnailJobs:
    """ThumbnailJobs in one namespace, as plain dicts."""

    def __init__(self, api_client: client.ApiClient, namespace: str):
        self.namespace = namespace
        self._custom = client.CustomObjectsApi(api_client)
        self._version = client.VersionApi(api_client)

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ApiException as e:
            if e.status == 409:
                raise AlreadyExists(str(e.reason)) from e
            if e.status == 404:
                return None
            if e.status and e.status < 500 and e.status != 429:
                raise
            raise ClusterUnavailable(f"API server error {e.status}: {e.reason}") from e
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise ClusterUnavailable(f"API server unreachable: {e}") from e

    def create(self, manifest: dict) -> dict:
        """Create a ThumbnailJob; raises :class:`AlreadyExists` or :class:`ClusterUnavailable`."""
        return self._call(self._custom.create_namespaced_custom_object, api.GROUP, api.VERSION,
                          self.namespace, api.PLURAL, manifest)

    def get(self, name: str) -> dict | None:
        """The ThumbnailJob ``name``, or None."""
        return self._call(self._custom.get_namespaced_custom_object, api.GROUP, api.VERSION,
                          self.namespace, api.PLURAL, name)

    def list(self) -> list[dict]:
        """Every ThumbnailJob in the namespace, newest first."""
        out = self._call(self._custom.list_namespaced_custom_object, api.GROUP, api.VERSION,
                         self.namespace, api.PLURAL) or {}
        items = out.get("items", [])
        return sorted(items, key=lambda o: (o["metadata"].get("creationTimestamp", ""), o["metadata"]["name"]),
                      reverse=True)

    def check(self) -> None:
        """Raise :class:`ClusterUnavailable` unless the API server answers and serves ThumbnailJobs."""
        self._call(self._custom.list_namespaced_custom_object, api.GROUP, api.VERSION, self.namespace,
                   api.PLURAL, limit=1)
