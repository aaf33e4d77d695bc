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


SPEC = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]


def test_the_spec_defaults_fits_formats_and_sizes_match_the_crd():
    for side, default in (("width", api.DEFAULT_WIDTH), ("height", api.DEFAULT_HEIGHT)):
        field = SPEC["size"]["properties"][side]
        assert (field["default"], field["minimum"], field["maximum"]) == (default, 1, api.MAX_DIMENSION)
    assert SPEC["fit"]["default"] == api.DEFAULT_FIT and tuple(SPEC["fit"]["enum"]) == api.FITS
    assert sorted(SPEC["format"]["enum"]) == sorted(api.OUTPUT_FORMATS)


def test_the_resizer_knows_every_fit_and_format_of_the_contract():
    from resizer.geometry import FITS
    from resizer.thumbnail import OUTPUT_FORMATS, ThumbnailSpec

    assert FITS == api.FITS and tuple(OUTPUT_FORMATS) == api.OUTPUT_FORMATS
    spec = ThumbnailSpec()
    assert (spec.width, spec.height, spec.fit) == (api.DEFAULT_WIDTH, api.DEFAULT_HEIGHT, api.DEFAULT_FIT)
    assert (spec.max_pixels, spec.max_frames, spec.max_animation_pixels, spec.max_output_pixels) == (
        api.DEFAULT_MAX_PIXELS, api.DEFAULT_MAX_FRAMES, api.DEFAULT_MAX_ANIMATION_PIXELS, api.DEFAULT_MAX_OUTPUT_PIXELS)


def test_the_operator_writes_only_what_the_resizer_reads():
    """Every variable build_job puts on the container is a ResizerEnv name, and the resizer reads
    back what the operator meant from exactly those (defaults, limits, object keys)."""
    from resizer.settings import ResizerSettings
    from thumbnail_operator.jobs import build_job
    from thumbnail_operator.settings import OperatorSettings

    names = {v for k, v in vars(api.ResizerEnv).items() if not k.startswith("_")}
    tj = {"metadata": {"name": "cat", "namespace": "ns", "generation": 1, "uid": "u"},
          "spec": {"source": {"key": "uploads/cat.jpg"}}}
    settings = OperatorSettings()
    container = build_job(tj, settings)["spec"]["template"]["spec"]["containers"][0]
    written = {e["name"]: e.get("value", "secret") for e in container["env"]}
    assert set(written) <= names, set(written) - names
    read = ResizerSettings.from_env(written)
    assert (read.spec.width, read.spec.height, read.spec.fit) == (api.DEFAULT_WIDTH, api.DEFAULT_HEIGHT,
                                                                  api.DEFAULT_FIT)
    assert (read.spec.max_pixels, read.spec.max_frames, read.spec.max_animation_pixels, read.spec.max_output_pixels,
            read.max_bytes, read.max_cpu_seconds) == (
        settings.max_pixels, settings.max_frames, settings.max_animation_pixels, settings.max_output_pixels,
        settings.max_bytes, settings.max_cpu_seconds)
    assert read.source_key == "uploads/cat.jpg" and container["name"] == api.RESIZER_CONTAINER


def test_every_reason_is_in_the_status_doc_and_every_resizer_reason_is_known_to_the_uploader():
    status_doc = (Path(__file__).resolve().parents[2] / "docs" / "thumbnailjobs.md").read_text()
    missing = [r for r in api.FAILURE_REASONS + api.PROGRESS_REASONS if f"`{r}`" not in status_doc]
    assert not missing, missing
    from uploader.errors import REJECTED

    assert set(REJECTED) <= set(api.IMAGE_REASONS)
