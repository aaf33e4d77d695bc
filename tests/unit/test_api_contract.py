"""thumbnailer/api.py must name exactly what crds/thumbnailjob.yaml defines."""

from pathlib import Path

import yaml

from thumbnailer import api

CRD = yaml.safe_load((Path(__file__).resolve().parents[2] / "crds" / "thumbnailjob.yaml").read_text())


def test_group_version_kind_and_plural_match_the_crd():
    spec = CRD["spec"]
    assert CRD["metadata"]["name"] == api.CRD_NAME
    assert spec["group"] == api.GROUP
    assert spec["names"]["kind"] == api.KIND
    assert spec["names"]["plural"] == api.PLURAL
    assert [v["name"] for v in spec["versions"] if v["storage"]] == [api.VERSION]


def test_status_phase_enum_matches_the_phases_the_code_writes():
    status = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert tuple(status["properties"]["phase"]["enum"]) == api.PHASES
