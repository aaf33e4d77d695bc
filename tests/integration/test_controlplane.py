"""The local control plane is a real Kubernetes: CRDs, RBAC, TokenRequest, and
the real Job controller driving pods that the development node runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes import client

from devcluster.binaries import REPO_ROOT
from thumbnailer import api
from waiting import wait_for

pytestmark = pytest.mark.integration


def job_condition(batch: client.BatchV1Api, name: str, ns: str) -> str | None:
    job = batch.read_namespaced_job_status(name, ns)
    for c in job.status.conditions or []:
        if c.type in ("Complete", "Failed") and c.status == "True":
            return c.type
    return None


def python_job(name: str, code: str, **spec) -> dict:
    return {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
        "spec": {
            "backoffLimit": spec.pop("backoffLimit", 0),
            "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": "python:3.11-slim",
                                "command": ["python", "-c", code]}],
            }},
            **spec,
        },
    }


def test_server_reports_its_real_version(cluster):
    info = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    versions = (REPO_ROOT / "hack" / "versions.env").read_text()
    assert f"KUBERNETES_VERSION={info['serverVersion']['gitVersion']}" in versions
    assert info["serverVersion"]["minor"] == info["serverVersion"]["gitVersion"].split(".")[1]


def test_crd_from_the_repository_applies_and_serves_objects(cluster, namespace):
    cluster.kubectl("apply", "--server-side", "-f", str(REPO_ROOT / "crds" / "thumbnailjob.yaml"))
    cluster.kubectl("wait", "--for=condition=Established", f"crd/{api.CRD_NAME}", "--timeout=60s")
    manifest = {"apiVersion": api.API_VERSION, "kind": api.KIND, "metadata": {"name": "probe"},
                "spec": {"source": {"key": "uploads/x.jpg"}}}
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    got = json.loads(cluster.kubectl("get", "-n", namespace, f"{api.PLURAL}/probe", "-o", "json").stdout)
    assert got["spec"]["size"] == {"width": 100, "height": 100}  # structural defaults applied
    assert got["spec"]["fit"] == "cover"


def test_job_whose_pod_exits_zero_is_marked_complete(cluster, api_client, namespace):
    batch = client.BatchV1Api(api_client)
    batch.create_namespaced_job(namespace, python_job("ok", "print('hello from the pod')"))
    assert wait_for(lambda: job_condition(batch, "ok", namespace), what="Job ok to finish") == "Complete"


def test_failed_pod_reports_its_termination_message_and_exit_code(cluster, api_client, namespace):
    batch, core = client.BatchV1Api(api_client), client.CoreV1Api(api_client)
    code = ("import os; open(os.environ.get('TERMINATION_MESSAGE_PATH', '/dev/termination-log'), 'w')"
            ".write('source image is corrupt'); raise SystemExit(3)")
    batch.create_namespaced_job(namespace, python_job("bad", code))
    assert wait_for(lambda: job_condition(batch, "bad", namespace), what="Job bad to finish") == "Failed"
    pods = core.list_namespaced_pod(namespace, label_selector="job-name=bad").items
    assert len(pods) == 1
    terminated = pods[0].status.container_statuses[0].state.terminated
    assert terminated.exit_code == 3
    assert terminated.message == "source image is corrupt"
    assert pods[0].status.phase == "Failed"


def test_pod_failure_policy_fails_the_job_on_the_first_matching_exit(cluster, api_client, namespace):
    batch, core = client.BatchV1Api(api_client), client.CoreV1Api(api_client)
    job = python_job("permanent", "raise SystemExit(3)", backoffLimit=5, podFailurePolicy={"rules": [
        {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": [3]}},
    ]})
    batch.create_namespaced_job(namespace, job)
    assert wait_for(lambda: job_condition(batch, "permanent", namespace), what="Job to fail") == "Failed"
    status = batch.read_namespaced_job_status("permanent", namespace).status
    assert status.failed == 1
    reasons = {c.reason for c in status.conditions if c.type == "Failed"}
    assert reasons == {"PodFailurePolicy"}
    assert len(core.list_namespaced_pod(namespace, label_selector="job-name=permanent").items) == 1


def test_backoff_limit_retries_a_failing_pod(cluster, api_client, namespace):
    batch = client.BatchV1Api(api_client)
    batch.create_namespaced_job(namespace, python_job("flaky", "raise SystemExit(75)", backoffLimit=1))
    assert wait_for(lambda: job_condition(batch, "flaky", namespace), timeout=120, what="Job to fail") == "Failed"
    assert batch.read_namespaced_job_status("flaky", namespace).status.failed == 2


def test_pod_env_resolves_secrets_and_configmaps(cluster, api_client, namespace):
    core, batch = client.CoreV1Api(api_client), client.BatchV1Api(api_client)
    core.create_namespaced_secret(namespace, {"metadata": {"name": "creds"}, "stringData": {"key": "s3cr3t"}})
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "cfg"}, "data": {"BUCKET": "thumbs"}})
    job = python_job("env", "import os, sys; sys.exit(0 if os.environ['KEY'] == 's3cr3t' and "
                            "os.environ['CFG_BUCKET'] == 'thumbs' and os.environ['POD_NS'] == "
                            f"'{namespace}' else 9)")
    container = job["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [
        {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "key"}}},
        {"name": "POD_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
    ]
    container["envFrom"] = [{"prefix": "CFG_", "configMapRef": {"name": "cfg"}}]
    batch.create_namespaced_job(namespace, job)
    assert wait_for(lambda: job_condition(batch, "env", namespace), what="Job env to finish") == "Complete"


def test_deleting_a_job_kills_its_running_pod(cluster, api_client, namespace):
    batch, core = client.BatchV1Api(api_client), client.CoreV1Api(api_client)
    marker = Path(cluster.state_dir) / f"{namespace}-alive"
    code = f"import time, pathlib; p = pathlib.Path({str(marker)!r}); p.write_text('x'); time.sleep(600)"
    batch.create_namespaced_job(namespace, python_job("sleeper", code))
    wait_for(marker.exists, what="the pod's process to start")
    batch.delete_namespaced_job("sleeper", namespace, propagation_policy="Foreground")
    wait_for(lambda: not core.list_namespaced_pod(namespace, label_selector="job-name=sleeper").items,
             what="the pod to be deleted")
    # The garbage collector deleted the pod and the node ended the process.
    out = cluster.kubectl("get", "pods", "-A", "-o", "name").stdout
    assert "sleeper" not in out


def test_token_request_api_issues_service_account_tokens(cluster, api_client, namespace, tmp_path):
    core = client.CoreV1Api(api_client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "robot"}})
    token = core.create_namespaced_service_account_token(
        "robot", namespace, {"spec": {"expirationSeconds": 600}}).status.token
    robot = cluster.token_kubeconfig(tmp_path / "robot.kubeconfig", token)
    who = cluster.kubectl("auth", "whoami", "-o", "json", kubeconfig=robot)
    assert json.loads(who.stdout)["status"]["userInfo"]["username"] == f"system:serviceaccount:{namespace}:robot"
    # RBAC is enforced: a fresh service account may not read Secrets.
    denied = cluster.kubectl("get", "secrets", "-n", namespace, kubeconfig=robot, check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()
