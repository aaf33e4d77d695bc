"""The Kubernetes API client every component builds the same way."""

from __future__ import annotations

import urllib3
from kubernetes import client, config


def load_api_client(timeout: urllib3.Timeout | None = None, connections: int | None = None) -> client.ApiClient:
    """An API client from the in-cluster service account, else ``$KUBECONFIG`` / ``~/.kube/config``.

    ``timeout`` (connect/read seconds) applies to every request; None keeps the
    client's default (no timeout), as long-lived watchers want.

    ``connections``: how many requests the caller makes at once, at most (its threads). The
    client keeps that many connections open (urllib3's pool ``maxsize``); its default is
    5 per CPU (10 on two cores), and urllib3 closes every connection beyond ``maxsize`` when
    its request ends, so each request over it pays a new TCP and TLS handshake, on both sides.
    In the operator during a 300-upload burst, handshakes were a fifth of its CPU.
    """
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    configuration = client.Configuration.get_default_copy()
    if connections is not None:
        configuration.connection_pool_maxsize = max(connections, configuration.connection_pool_maxsize or 0)
    api_client = client.ApiClient(configuration)
    if timeout is not None:
        api_client.rest_client.pool_manager.connection_pool_kw["timeout"] = timeout
    return api_client
