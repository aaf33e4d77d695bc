"""docker-compose.yml's wiring, as the file's header describes it: images and tags the
same as the chart's (and built by `make images`, never by compose), one MinIO release,
dependencies that exist, and only environment variables the uploader and the operator
actually read. `docker compose config` itself runs in tests/integration/test_compose_config.py.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import yaml

from thumbnail_operator.settings import OperatorSettings
from uploader.settings import UploaderSettings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
VALUES = yaml.safe_load((REPO / "helm" / "thumbnailer" / "values.yaml").read_text())
IMAGE = f"{VALUES['image']['repository']}:{VALUES['image']['tag']}"
RESIZER_IMAGE = f"{VALUES['resizerImage']['repository']}:{VALUES['resizerImage']['tag']}"


def env_names(settings) -> set[str]:
    return {(field.validation_alias or name).upper() for name, field in settings.model_fields.items()}


def script(service: dict) -> str:
    """The service's entrypoint and command as one string."""
    def words(value) -> list[str]:
        return list(value) if isinstance(value, list) else [value] if value else []
    return " ".join(words(service.get("entrypoint")) + words(service.get("command")))


def test_the_stack_has_every_service_and_dependencies_exist():
    assert {"minio", "bucket", "images", "k3s", "setup", "operator", "uploader"} <= set(SERVICES)
    for name, service in SERVICES.items():
        for dep, how in (service.get("depends_on") or {}).items():
            assert dep in SERVICES, f"{name} depends on unknown service {dep}"
            if how.get("condition") == "service_healthy":
                assert "healthcheck" in SERVICES[dep], f"{name} waits for {dep} to be healthy; it has no healthcheck"


def test_images_and_tags_are_the_charts():
    for name in ("operator", "uploader"):
        assert SERVICES[name]["image"] == IMAGE
        assert SERVICES[name]["pull_policy"] == "never"   # `make images` built it
    assert not any("build" in service for service in SERVICES.values())
    assert SERVICES["images"]["entrypoint"][-1] == RESIZER_IMAGE   # saved for k3s to import
    assert SERVICES["operator"]["environment"]["RESIZER_IMAGE"] == RESIZER_IMAGE
    assert SERVICES["operator"]["environment"]["RESIZER_IMAGE_PULL_POLICY"] == "Never"  # imported, not pulled
    assert SERVICES["minio"]["image"] == VALUES["minio"]["image"]


def test_uploader_and_operator_get_only_variables_they_read():
    for name, settings in (("uploader", UploaderSettings), ("operator", OperatorSettings)):
        unknown = set(SERVICES[name]["environment"]) - env_names(settings)
        assert not unknown, f"{name}: {sorted(unknown)} are not settings it reads"
        assert "KUBECONFIG=/tmp/kc" in script(SERVICES[name])
        assert "kubeconfig:/kubeconfig:ro" in SERVICES[name]["volumes"]


def test_resizer_pods_reach_minio_at_its_fixed_address():
    subnet = ipaddress.ip_network(COMPOSE["networks"]["default"]["ipam"]["config"][0]["subnet"])
    address = SERVICES["minio"]["networks"]["default"]["ipv4_address"]
    assert ipaddress.ip_address(address) in subnet
    assert SERVICES["operator"]["environment"]["S3_ENDPOINT"] == f"{address}:9000"
    assert SERVICES["uploader"]["environment"]["S3_ENDPOINT"] == "minio:9000"


def test_credentials_bucket_and_secret_agree():
    minio = SERVICES["minio"]["environment"]
    up = SERVICES["uploader"]["environment"]
    assert (up["S3_ACCESS_KEY"], up["S3_SECRET_KEY"]) == (minio["MINIO_ROOT_USER"], minio["MINIO_ROOT_PASSWORD"])
    assert f"local/{up['S3_BUCKET']}" in script(SERVICES["bucket"])
    assert f"{up['S3_ACCESS_KEY']} {up['S3_SECRET_KEY']}" in script(SERVICES["bucket"])
    setup = script(SERVICES["setup"])
    secret = OperatorSettings.model_fields["s3_credentials_secret"].default
    assert f"secret generic {secret} --from-literal=accessKey={up['S3_ACCESS_KEY']} " \
           f"--from-literal=secretKey={up['S3_SECRET_KEY']}" in setup
    assert SERVICES["operator"]["environment"]["S3_BUCKET"] == up["S3_BUCKET"]


def test_k3s_wiring():
    k3s = SERVICES["k3s"]
    kubeconfig = k3s["environment"]["K3S_KUBECONFIG_OUTPUT"]
    # k3s's own kubectl does not find a kubeconfig written elsewhere by itself.
    assert f"--kubeconfig={kubeconfig}" in k3s["healthcheck"]["test"]
    assert "images:/var/lib/rancher/k3s/agent/images:ro" in k3s["volumes"]
    setup = SERVICES["setup"]
    assert "./crds:/crds:ro" in setup["volumes"]
    assert "/crds/thumbnailjob.yaml" in script(setup) and (REPO / "crds" / "thumbnailjob.yaml").is_file()
