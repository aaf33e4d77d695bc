"""The uploader's calls to the API server: create, read and list ThumbnailJobs."""

from __future__ import annotations

import urllib3
from kubernetes import client
from kubernetes.client.rest import ApiException

from thumbnailer import api


class ClusterUnavailable(Exception):
    """The API server could not be reached or failed (HTTP 503 with Retry-After)."""


class AlreadyExists(Exception):
    """A ThumbnailJob with that name exists."""


class ContinueExpired(Exception):
    """A list continue token is too old (the API server compacted past it)."""


class ContinueInvalid(Exception):
    """A list continue token is malformed: the API server refused it with 400."""


class ThumbnailJobs:
    """ThumbnailJobs in one namespace, as plain dicts."""

    def __init__(self, api_client: client.ApiClient, namespace: str):
        self.namespace = namespace
        self._custom = client.CustomObjectsApi(api_client)
        self._version = client.VersionApi(api_client)

    def _call(self, fn, *args, **kwargs):
        """Call the API; 404 -> None, 409 -> AlreadyExists, 410 -> ContinueExpired,
        400 to a list call with a continue token -> ContinueInvalid (the token is the
        only part of such a call that comes from the client), anything else -> ClusterUnavailable."""
        try:
            return fn(*args, **kwargs)
        except ApiException as e:
            if e.status == 400 and kwargs.get("_continue"):
                raise ContinueInvalid(str(e.reason)) from e
            if e.status == 409:
                raise AlreadyExists(str(e.reason)) from e
            if e.status == 404:
                return None
            if e.status == 410:
                raise ContinueExpired(str(e.reason)) from e
            raise ClusterUnavailable(f"API server answered {e.status} {e.reason}") from e
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise ClusterUnavailable(f"API server unreachable: {e}") from e

    def create(self, manifest: dict) -> dict:
        """Create a ThumbnailJob; raises :class:`AlreadyExists` or :class:`ClusterUnavailable`
        (also when the namespace is missing or the uploader may not create ThumbnailJobs)."""
        created = self._call(self._custom.create_namespaced_custom_object, api.GROUP, api.VERSION,
                             self.namespace, api.PLURAL, manifest)
        if created is None:
            raise ClusterUnavailable(f"namespace {self.namespace!r} or the ThumbnailJob API does not exist")
        return created

    def get(self, name: str) -> dict | None:
        """The ThumbnailJob ``name``, or None."""
        return self._call(self._custom.get_namespaced_custom_object, api.GROUP, api.VERSION,
                          self.namespace, api.PLURAL, name)

    def delete(self, name: str) -> bool:
        """Delete the ThumbnailJob ``name``; False if it did not exist."""
        return self._call(self._custom.delete_namespaced_custom_object, api.GROUP, api.VERSION,
                          self.namespace, api.PLURAL, name) is not None

    def page(self, limit: int, continue_token: str = "", field_selector: str = "") -> tuple[list[dict], str | None]:
        """One page of ThumbnailJobs in name order (the API server's order) and the
        API server's continue token for the next page (None on the last page).

        Raises :class:`ContinueExpired` when the token is too old (HTTP 410 from the API server),
        :class:`ContinueInvalid` when it is malformed (HTTP 400).
        """
        out = self._call(self._custom.list_namespaced_custom_object, api.GROUP, api.VERSION, self.namespace,
                         api.PLURAL, limit=limit, _continue=continue_token or None,
                         field_selector=field_selector or None) or {}
        return out.get("items", []), (out.get("metadata") or {}).get("continue") or None

    def check(self) -> None:
        """Raise :class:`ClusterUnavailable` unless the API server answers and serves ThumbnailJobs."""
        self._call(self._custom.list_namespaced_custom_object, api.GROUP, api.VERSION, self.namespace,
                   api.PLURAL, limit=1)
