"""The chart's ServiceAccounts and RBAC, proven on the real API server: the operator and
the uploader run the main job authenticated as those ServiceAccounts (TokenRequest
tokens), in a namespace that enforces Pod Security "restricted"."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import requests
from kubernetes import client

from chartrender import RELEASE, container_env, with_session_store
from devcluster.components import ensure_s3_secret, start_operator, start_uploader

pytestmark = pytest.mark.integration
PHOTO = Path(__file__).resolve().parents[1] / "data" / "photos" / "chelsea.png"



@pytest.fixture
def chart_namespace(cluster, crd, api_client, binaries):
    """A restricted namespace with the chart's ServiceAccounts, Roles and RoleBindings applied."""
    ns = f"op-chart-{uuid.uuid4().hex[:6]}"  # op-*: the session's operator leaves it alone
    core = client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": ns, "labels": {
        "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}}})
    ensure_s3_secret(cluster, ns)
    rbac = [d for d in with_session_store(cluster, binaries, ns) if d["kind"] in ("ServiceAccount", "Role", "RoleBinding")]
    assert {d["kind"] for d in rbac} == {"ServiceAccount", "Role", "RoleBinding"}
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": rbac}))
    yield ns
    core.delete_namespace(ns)


def token_kubeconfig(cluster, api_client, ns: str, sa: str, path: Path) -> Path:
    token = client.CoreV1Api(api_client).create_namespaced_service_account_token(
        sa, ns, {"spec": {"expirationSeconds": 3600}}).status.token
    return cluster.token_kubeconfig(path, token)


def can_i(cluster, ns: str, sa: str, *what: str) -> bool:
    out = cluster.kubectl("auth", "can-i", *what, "-n", ns, f"--as=system:serviceaccount:{ns}:{sa}", check=False)
    return out.stdout.strip() == "yes"


def test_chart_service_accounts_run_the_main_job_in_a_restricted_namespace(cluster, api_client, binaries,
                                                                         chart_namespace, tmp_path):
    """The operator and the uploader run with the chart's env (so its values must parse) and as its ServiceAccounts."""
    ns = chart_namespace
    operator_sa, uploader_sa = f"{RELEASE}-thumbnailer-operator", f"{RELEASE}-thumbnailer-uploader"
    objects = with_session_store(cluster, binaries, ns)
    op_env = container_env(objects, operator_sa, ns)
    up_env = container_env(objects, uploader_sa, ns)
    assert op_env["WATCH_NAMESPACE"] == ns and op_env["MAX_PIXELS"] == "89478485"  # digits, not 8.9478485e+07
    op = start_operator(cluster, tmp_path / "operator", **op_env,
                        KUBECONFIG=str(token_kubeconfig(cluster, api_client, ns, operator_sa, tmp_path / "op.kc")))
    up = start_uploader(cluster, tmp_path / "uploader", namespace=ns, **up_env,
                        KUBECONFIG=str(token_kubeconfig(cluster, api_client, ns, uploader_sa, tmp_path / "up.kc")))
    try:
        assert requests.get(f"{up.url}/readyz", timeout=30).status_code == 200
        with open(PHOTO, "rb") as f:
            job_id = requests.post(f"{up.url}/v1/jobs", files={"image": f}, timeout=30).json()["id"]
        cluster.kubectl("wait", "-n", ns, "--for=condition=Complete", f"thumbnailjob/{job_id}", "--timeout=120s")
        thumb = requests.get(f"{up.url}/v1/jobs/{job_id}/thumbnail", timeout=30)
        assert thumb.status_code == 200 and thumb.headers["Content-Type"] == "image/jpeg"  # an opaque photo
        # The resizer pod was admitted under Pod Security "restricted".
        pods = json.loads(cluster.kubectl("get", "pods", "-n", ns, "-o", "json").stdout)["items"]
        assert pods and all(p["spec"]["automountServiceAccountToken"] is False for p in pods)
        assert requests.delete(f"{up.url}/v1/jobs/{job_id}", timeout=30).status_code == 204
        cluster.kubectl("wait", "--for=delete", "-n", ns, f"thumbnailjob/{job_id}", "--timeout=60s")
    finally:
        up.process.stop()
        op.process.stop()


def test_chart_service_accounts_cannot_do_what_they_do_not_need(cluster, chart_namespace):
    ns = chart_namespace
    operator_sa, uploader_sa = f"{RELEASE}-thumbnailer-operator", f"{RELEASE}-thumbnailer-uploader"
    resizer_sa = f"{RELEASE}-thumbnailer-resizer"
    assert can_i(cluster, ns, operator_sa, "create", "jobs.batch")
    assert can_i(cluster, ns, operator_sa, "patch", "thumbnailjobs.thumbnailer.dev/status")
    assert can_i(cluster, ns, uploader_sa, "create", "thumbnailjobs.thumbnailer.dev")
    for sa in (operator_sa, uploader_sa, resizer_sa):
        assert not can_i(cluster, ns, sa, "get", "secrets")
        assert not can_i(cluster, ns, sa, "delete", "pods")
        assert not can_i(cluster, "default", sa, "list", "thumbnailjobs.thumbnailer.dev")  # other namespaces
    assert not can_i(cluster, ns, uploader_sa, "create", "jobs.batch")
    assert not can_i(cluster, ns, uploader_sa, "patch", "thumbnailjobs.thumbnailer.dev/status")
    assert not can_i(cluster, ns, operator_sa, "create", "thumbnailjobs.thumbnailer.dev")
    assert not can_i(cluster, ns, resizer_sa, "get", "thumbnailjobs.thumbnailer.dev")
