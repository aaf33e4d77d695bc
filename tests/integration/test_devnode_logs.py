"""`kubectl logs` for pods the development node runs: the API server's pods/log
subresource reaches the node's kubelet-style endpoint (devcluster/logserver.py)."""

from __future__ import annotations

import subprocess
import time

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from waiting import wait_for

pytestmark = pytest.mark.integration


def run_pod(api_client, ns: str, name: str, script: str, restart: str = "Never") -> None:
    """Create a pod whose one container runs ``sh -c script`` on the development node."""
    body = {"metadata": {"name": name}, "spec": {
        "restartPolicy": restart, "automountServiceAccountToken": False, "terminationGracePeriodSeconds": 1,
        "containers": [{"name": "main", "image": "devnode/none", "command": ["sh", "-c", script]}]}}

    def create() -> bool:
        try:
            client.CoreV1Api(api_client).create_namespaced_pod(ns, body)
            return True
        except ApiException as e:  # the namespace's default ServiceAccount may not exist yet
            if e.status == 403 and "serviceaccount" in (e.body or ""):
                return False
            raise

    wait_for(create, timeout=30, what="the pod to be admitted")


def phase(api_client, ns: str, name: str) -> str:
    return client.CoreV1Api(api_client).read_namespaced_pod(name, ns).status.phase or ""


def test_kubectl_logs_tail_and_limit_of_a_finished_pod(cluster, api_client, namespace):
    run_pod(api_client, namespace, "hello", "for i in 0 1 2 3 4; do echo line $i; done; "
                                            "python -c \"print('hello from python')\"")
    wait_for(lambda: phase(api_client, namespace, "hello") == "Succeeded", timeout=60, what="the pod to succeed")
    logs = cluster.kubectl("logs", "-n", namespace, "hello").stdout
    assert logs == "line 0\nline 1\nline 2\nline 3\nline 4\nhello from python\n"
    assert cluster.kubectl("logs", "-n", namespace, "hello", "--tail=2").stdout == "line 4\nhello from python\n"
    assert cluster.kubectl("logs", "-n", namespace, "hello", "--tail=0").stdout == ""
    assert cluster.kubectl("logs", "-n", namespace, "hello", "--limit-bytes=6").stdout == "line 0"
    assert cluster.kubectl("logs", "-n", namespace, "hello", "-c", "main", "--timestamps").stdout  # ignored, not refused
    # The same through the Python client (the pods/log subresource).
    text = client.CoreV1Api(api_client).read_namespaced_pod_log("hello", namespace, tail_lines=1)
    assert text == "hello from python\n"
    missing = cluster.kubectl("logs", "-n", namespace, "hello", "--previous", check=False)
    assert missing.returncode != 0 and "previous terminated container" in missing.stderr


def test_kubectl_logs_follow_ends_when_the_container_exits(cluster, api_client, namespace):
    run_pod(api_client, namespace, "slow", "echo first; sleep 3; echo second")
    wait_for(lambda: phase(api_client, namespace, "slow") == "Running", timeout=60, what="the pod to run")
    started = time.monotonic()
    out = subprocess.run(
        [str(cluster.binaries.kubectl), f"--kubeconfig={cluster.kubeconfig}", "logs", "-f", "-n", namespace, "slow"],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "first\nsecond\n"
    assert time.monotonic() - started < 30


def test_kubectl_logs_previous_after_a_restart(cluster, api_client, namespace):
    # The pod's working directory survives a restart: the first run fails, the second succeeds.
    run_pod(api_client, namespace, "flaky", "if [ -e ran ]; then echo second run; else touch ran; "
                                            "echo first run; exit 3; fi", restart="OnFailure")
    wait_for(lambda: phase(api_client, namespace, "flaky") == "Succeeded", timeout=60, what="the pod to succeed")
    assert cluster.kubectl("logs", "-n", namespace, "flaky").stdout == "second run\n"
    assert cluster.kubectl("logs", "-n", namespace, "flaky", "--previous").stdout == "first run\n"
