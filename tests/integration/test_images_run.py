"""The images as users get them: built for real by ``make images`` (hack/images.sh) and run
with Docker against the local control plane and S3 server.

Every container runs as the chart runs it: UID 10001 (which has no passwd entry in
either image), a read-only root file system with a writable /tmp, and the chart's own
environment. The operator is given no ``POD_ID``: the image must not need one, nor a
user name (Kopf asks for one when it has no identity). The resizer Job's pods run on the
development node, which ignores images; the resizer image is run here directly.
"""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import pytest
import requests
from kubernetes import client
from PIL import Image

import images
from chartrender import RELEASE, container_env, with_session_store
from devcluster.components import ensure_s3_secret
from devcluster.processes import free_port
from waiting import wait_for

pytestmark = pytest.mark.integration
PHOTO = Path(__file__).resolve().parents[1] / "data" / "photos" / "chelsea.png"
#: How every container here runs: the chart's pod and container securityContext, in Docker's words.
AS_THE_CHART_RUNS_IT = ("--user", "10001:10001", "--read-only", "--tmpfs", "/tmp:rw,size=256m",
                        "--cap-drop", "ALL", "--security-opt", "no-new-privileges")


@pytest.fixture(scope="module")
def built() -> images.Built:
    """Both images, built once with the default builder (BuildKit where it exists)."""
    return images.build()


@pytest.fixture
def chart_namespace(cluster, crd, api_client, binaries):
    """A namespace with the chart's ServiceAccounts and RBAC and the S3 Secret (op-*: the session's
    operator leaves it alone)."""
    ns = f"op-img-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": ns}})
    ensure_s3_secret(cluster, ns)
    rbac = [d for d in with_session_store(cluster, binaries, ns) if d["kind"] in ("ServiceAccount", "Role", "RoleBinding")]
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": rbac}))
    yield ns
    core.delete_namespace(ns)



def readable_token_kubeconfig(cluster, api_client, ns: str, sa: str, path: Path) -> Path:
    """A kubeconfig with a TokenRequest token of ``sa``, readable by UID 10001 (the CA beside it)."""
    token = client.CoreV1Api(api_client).create_namespaced_service_account_token(
        sa, ns, {"spec": {"expirationSeconds": 3600}}).status.token
    path.parent.mkdir(parents=True, exist_ok=True)
    ca = path.parent / "ca.crt"
    ca.write_bytes(Path(cluster.control_plane.ca.pair.cert).read_bytes())
    kc = cluster.token_kubeconfig(path, token)
    kc.write_text(kc.read_text().replace(str(cluster.control_plane.ca.pair.cert), "/config/ca.crt"))
    for f in (ca, kc):
        f.chmod(0o644)
    path.parent.chmod(0o755)
    return kc


def test_make_images_builds_both_images_small_non_root_and_labelled(built):
    assert set(built.sizes) == {built.operator, built.resizer}
    for tag in built.sizes:
        config = images.inspect(tag)["Config"]
        assert config["User"] == "10001:10001"
        assert config["Labels"]["org.opencontainers.image.version"] == tag.split(":")[1]
        assert len(config["Labels"]["org.opencontainers.image.revision"]) >= 40
    # The resizer carries no API client and the uploader none of the resizer's decoders beyond Pillow's.
    listing = images.docker("run", "--rm", "--entrypoint", "sh", built.resizer, "-c",
                            "ls /venv/lib/python3*/site-packages").stdout.split()
    assert not {"kubernetes", "kopf", "falcon", "pip", "setuptools"} & set(listing), listing
    listing = images.docker("run", "--rm", "--entrypoint", "sh", built.operator, "-c",
                            "ls /venv/lib/python3*/site-packages").stdout.split()
    assert not {"numpy", "simplejpeg", "pip", "setuptools"} & set(listing), listing


@pytest.mark.parametrize("image, packages, absent", [
    # The resizer image holds the contract and the header checks of thumbnailer/, not its client loader,
    # and obstore as its S3 client, not minio (resizer/s3.py).
    ("resizer", ["resizer", "thumbnailer"],
     ["thumbnailer.kubeclient", "thumbnailer.objectstore", "uploader", "thumbnail_operator", "devcluster",
      "debugbundle", "kopf", "falcon", "kubernetes", "minio", "urllib3"]),
    # The uploader sniffs headers with thumbnailer.sniff: no resizer code in this image.
    ("operator", ["thumbnail_operator", "uploader", "thumbnailer", "gunicorn.app.wsgiapp"],
     ["resizer", "devcluster", "debugbundle", "pytest", "simplejpeg", "numpy"]),
])
def test_every_module_of_the_image_imports_from_its_virtualenv(built, image, packages, absent):
    """Each package the image's commands use imports, module by module, from /venv (``-I``: nothing
    from the working directory or PYTHONPATH), as UID 10001 on a read-only root; nothing else is installed."""
    probe = ("import importlib, importlib.util, pkgutil\n"
             f"for name in {packages!r}:\n"
             "    package = importlib.import_module(name)\n"
             "    assert package.__file__.startswith('/venv/'), package.__file__\n"
             "    for info in pkgutil.walk_packages(getattr(package, '__path__', []), name + '.'):\n"
             "        importlib.import_module(info.name)\n"
             f"missing = [n for n in {absent!r} if importlib.util.find_spec(n) is not None]\n"
             "assert not missing, f'installed but not needed: {missing}'\n")
    tag = built.resizer if image == "resizer" else built.operator
    proc = images.docker("run", "--rm", *AS_THE_CHART_RUNS_IT, tag, "python", "-I", "-c", probe, check=False)
    assert proc.returncode == 0, proc.stderr


def test_both_builders_build_every_image():
    """BuildKit (already used above where it exists) and the classic builder; nothing but the base
    comes from a registry (no `# syntax=` frontend to pull)."""
    legacy = images.build("legacy", version="0.0.0-legacy")
    assert legacy.builder == "legacy" and len(legacy.sizes) == 2
    for tag in legacy.sizes:
        images.docker("image", "rm", tag, check=False)
    for dockerfile in ("Dockerfile.operator", "Dockerfile.resizer"):
        assert "# syntax=" not in (images.REPO_ROOT / dockerfile).read_text()


def test_operator_and_uploader_images_run_the_main_job_as_uid_10001_read_only(
        built, cluster, api_client, binaries, chart_namespace, tmp_path):
    ns = chart_namespace
    objects = with_session_store(cluster, binaries, ns)
    operator_sa, uploader_sa = f"{RELEASE}-thumbnailer-operator", f"{RELEASE}-thumbnailer-uploader"
    live, up_port = free_port(), free_port()
    op_env = {**container_env(objects, operator_sa, ns), "KUBECONFIG": "/config/kubeconfig",
              "LIVENESS_HOST": "127.0.0.1", "LIVENESS_PORT": str(live), "METRICS_PORT": str(free_port()),
              "S3_ACCESS_KEY": cluster.s3.access_key, "S3_SECRET_KEY": cluster.s3.secret_key}
    assert "POD_ID" not in op_env  # the image must start without it
    up_env = {**container_env(objects, uploader_sa, ns), "KUBECONFIG": "/config/kubeconfig",
              "UPLOADER_BIND": f"127.0.0.1:{up_port}",
              "S3_ACCESS_KEY": cluster.s3.access_key, "S3_SECRET_KEY": cluster.s3.secret_key}
    op_dir = readable_token_kubeconfig(cluster, api_client, ns, operator_sa, tmp_path / "op" / "kubeconfig").parent
    up_dir = readable_token_kubeconfig(cluster, api_client, ns, uploader_sa, tmp_path / "up" / "kubeconfig").parent
    operator = images.Container(built.operator, env=op_env,
                                options=(*AS_THE_CHART_RUNS_IT, "--volume", f"{op_dir}:/config:ro"))
    uploader = images.Container(built.operator, "gunicorn", "-c", "python:uploader.gunicorn_conf",
                                "uploader.app:create_app()", env=up_env,
                                options=(*AS_THE_CHART_RUNS_IT, "--volume", f"{up_dir}:/config:ro"))
    try:
        def healthy(url: str, container: images.Container) -> bool:
            assert container.state()["Running"], container.logs()[-4000:]
            try:
                return requests.get(url, timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_for(lambda: healthy(f"http://127.0.0.1:{live}/healthz", operator), 90, what="the operator's /healthz")
        wait_for(lambda: healthy(f"http://127.0.0.1:{up_port}/readyz", uploader), 90, what="the uploader's /readyz")
        assert operator.exec("id", "-u").stdout.strip() == "10001"
        assert "cannot" in operator.exec("sh", "-c", "touch /venv/x 2>&1 || echo cannot").stdout
        with open(PHOTO, "rb") as f:
            reply = requests.post(f"http://127.0.0.1:{up_port}/v1/jobs", files={"image": f}, timeout=30)
        assert reply.status_code == 202, reply.text
        job_id = reply.json()["id"]
        cluster.kubectl("wait", "-n", ns, "--for=condition=Complete", f"thumbnailjob/{job_id}", "--timeout=120s")
        thumb = requests.get(f"http://127.0.0.1:{up_port}/v1/jobs/{job_id}/thumbnail", timeout=30)
        assert thumb.status_code == 200
        assert Image.open(io.BytesIO(thumb.content)).size == (100, 100)
        # Kopf's identity fell back to hostname-pid, never to a user name.
        assert "getpwuid" not in operator.logs()
    finally:
        logs = operator.logs()[-3000:], uploader.logs()[-3000:]
        operator.remove()
        uploader.remove()
    assert "Traceback" not in logs[0], logs[0]


def test_resizer_image_makes_a_thumbnail_as_uid_10001_read_only(built, cluster):
    key = f"sources/img-{uuid.uuid4().hex[:8]}.png"
    s3 = cluster.s3.client()
    s3.fput_object(cluster.s3.bucket, key, str(PHOTO))
    out = f"thumbnails/img-{uuid.uuid4().hex[:8]}"  # the resizer adds the extension
    proc = images.docker(
        "run", "--rm", "--network", "host", *AS_THE_CHART_RUNS_IT,
        "--env", f"S3_ENDPOINT={cluster.s3.endpoint}", "--env", f"S3_ACCESS_KEY={cluster.s3.access_key}",
        "--env", f"S3_SECRET_KEY={cluster.s3.secret_key}", "--env", "S3_SECURE=false",
        "--env", f"SOURCE_BUCKET={cluster.s3.bucket}", "--env", f"SOURCE_KEY={key}",
        "--env", f"OUTPUT_BUCKET={cluster.s3.bucket}", "--env", f"OUTPUT_KEY={out}",
        "--env", "THUMBNAIL_WIDTH=64", "--env", "THUMBNAIL_HEIGHT=48", "--env", "THUMBNAIL_FORMAT=png",
        built.resizer, check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    thumb = Image.open(io.BytesIO(s3.get_object(cluster.s3.bucket, f"{out}.png").read()))
    assert (thumb.format, thumb.size) == ("PNG", (64, 48))
