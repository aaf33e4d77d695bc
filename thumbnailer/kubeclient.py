"""The Kubernetes API client every component builds the same way."""

from __future__ import annotations

import urllib3
from kubernetes import client, config


def load_api_client(timeout: urllib3.Timeout | None = None) -> client.ApiClient:
    """An API client from the in-cluster service account, else ``$KUBECONFIG`` / ``~/.kube/config``.

    ``timeout`` (connect/read seconds) applies to every request; None keeps the
    client's default (no timeout), as long-lived watchers want.
    """
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    api_client = client.ApiClient()
    if timeout is not None:
        api_client.rest_client.pool_manager.connection_pool_kw["timeout"] = timeout
    return api_client
