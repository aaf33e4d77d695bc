"""The Job the operator builds for a ThumbnailJob (pure function, plain dicts)."""

import pathlib

from thumbnailer.api import EXIT_BAD_IMAGE, EXIT_CONFIG, EXIT_INTERNAL, EXIT_RETRYABLE
from thumbnail_operator.jobs import build_job, job_name
from thumbnail_operator.settings import OperatorSettings
from thumbnailer import api

SETTINGS = OperatorSettings(s3_endpoint="s3.example:9000", s3_bucket="thumbs")


def thumbnailjob(name="cat", generation=1, **spec):
    return {"apiVersion": api.API_VERSION, "kind": api.KIND,
            "metadata": {"name": name, "namespace": "media", "uid": "u-1", "generation": generation,
                         "labels": {"app.kubernetes.io/instance": "argo-app"},
                         "annotations": {"argocd.argoproj.io/tracking-id": "x"}},
            "spec": {"source": {"key": "uploads/cat.jpg"}, "size": {"width": 64, "height": 32},
                     "fit": "contain", **spec}}


def env_of(job):
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_job_name_is_deterministic_per_generation_and_fits_63_characters():
    assert job_name("cat", 1) == "cat-g1"
    assert job_name("cat", 2) == "cat-g2"
    long_a, long_b = "a" * 250, "a" * 249 + "b"
    assert len(job_name(long_a, 12345)) <= 63
    assert job_name(long_a, 7) == job_name(long_a, 7)
    assert job_name(long_a, 7) != job_name(long_b, 7)
    assert job_name(long_a, 7).endswith("-g7")


def test_job_is_owned_by_the_thumbnailjob_and_copies_none_of_its_labels():
    job = build_job(thumbnailjob(), SETTINGS)
    owner = job["metadata"]["ownerReferences"][0]
    assert owner == {"apiVersion": api.API_VERSION, "kind": api.KIND, "name": "cat", "uid": "u-1",
                     "controller": True, "blockOwnerDeletion": True}
    assert "app.kubernetes.io/instance" not in job["metadata"]["labels"]
    assert "annotations" not in job["metadata"]
    assert job["metadata"]["namespace"] == "media" and job["metadata"]["name"] == "cat-g1"


def test_bad_images_fail_the_job_at_once_but_store_outages_are_retried():
    job = build_job(thumbnailjob(), SETTINGS)
    rule, = job["spec"]["podFailurePolicy"]["rules"]
    assert rule["action"] == "FailJob"
    # 70 (an unexpected exception) too: the same input takes the same path again, so retries only add delay.
    assert set(rule["onExitCodes"]["values"]) == {EXIT_BAD_IMAGE, EXIT_INTERNAL, EXIT_CONFIG}
    assert EXIT_RETRYABLE not in rule["onExitCodes"]["values"]
    assert job["spec"]["backoffLimit"] == SETTINGS.job_backoff_limit
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"  # podFailurePolicy requires it


def test_resizer_gets_the_spec_and_reads_credentials_from_the_secret():
    env = env_of(build_job(thumbnailjob(format="webp"), SETTINGS))
    assert env["SOURCE_BUCKET"] == "thumbs" and env["SOURCE_KEY"] == "uploads/cat.jpg"
    assert (env["THUMBNAIL_WIDTH"], env["THUMBNAIL_HEIGHT"], env["THUMBNAIL_FIT"]) == ("64", "32", "contain")
    assert env["THUMBNAIL_FORMAT"] == "webp"
    assert env["OUTPUT_KEY"] == "thumbnails/media/cat"
    assert env["S3_ACCESS_KEY"] == {"secretKeyRef": {"name": "thumbnailer-s3", "key": "accessKey"}}
    assert (env["MAX_PIXELS"], env["MAX_BYTES"], env["MAX_FRAMES"]) == ("89478485", "52428800", "200")


def test_source_bucket_from_the_spec_wins_over_the_default():
    env = env_of(build_job(thumbnailjob(source={"key": "a.png", "bucket": "other"}), SETTINGS))
    assert env["SOURCE_BUCKET"] == "other" and env["OUTPUT_BUCKET"] == "thumbs"


def test_resizer_pod_is_locked_down():
    pod = build_job(thumbnailjob(), SETTINGS)["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    sc = pod["containers"][0]["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["readOnlyRootFilesystem"] is True


def test_namespace_patterns_follow_kopf_rules():
    from thumbnail_operator.settings import namespace_patterns, namespace_watched

    def watched(ns, spec):
        return namespace_watched(ns, namespace_patterns(spec))

    assert watched("anything", "")
    assert watched("media", "media team-*") and watched("team-a", "media team-*") and not watched("ops", "media team-*")
    assert watched("t-1", "!op-*") and not watched("op-1", "!op-*")
    assert watched("myapp-live", "myapp-*,!*-pr-*,*-pr-123") and not watched("myapp-pr-456", "myapp-*,!*-pr-*,*-pr-123")
    assert watched("myapp-pr-123", "myapp-*,!*-pr-*,*-pr-123")
    assert not watched("otherapp-pr-123", "myapp-*,!*-pr-*,*-pr-123")


def test_deletion_removes_the_thumbnail_and_only_sources_the_uploader_stored():
    from thumbnail_operator.cleanup import objects_to_delete

    done = {"bucket": "thumbs", "key": "thumbnails/media/cat.jpg"}
    uploaded = thumbnailjob()
    uploaded["metadata"]["labels"] = {"app.kubernetes.io/created-by": "thumbnailer-uploader"}
    uploaded["status"] = {"output": done}
    # Every format's key under its name: a Job that finished after the deletion wrote one no status names.
    thumbnails = [("thumbs", f"thumbnails/media/cat.{ext}") for ext in ("jpg", "png", "webp", "gif")]
    assert objects_to_delete(uploaded, SETTINGS) == [*thumbnails, ("thumbs", "uploads/cat.jpg")]
    gitops = thumbnailjob()
    gitops["status"] = {"output": done}
    assert objects_to_delete(gitops, SETTINGS) == thumbnails
    assert objects_to_delete(thumbnailjob(), SETTINGS) == thumbnails
    moved = thumbnailjob()
    moved["status"] = {"output": {"bucket": "old", "key": "thumbs-v0/media/cat.png"}}  # an earlier output prefix
    assert objects_to_delete(moved, SETTINGS) == [("old", "thumbs-v0/media/cat.png"), *thumbnails]


def test_resizer_resources_come_from_the_settings(monkeypatch):
    default = build_job(thumbnailjob(), SETTINGS)["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert default["limits"] == {"memory": "1Gi"}
    monkeypatch.setenv("RESIZER_RESOURCES", '{"requests": {"cpu": "1"}, "limits": {"memory": "2Gi"}}')
    container = build_job(thumbnailjob(), OperatorSettings())["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == {"requests": {"cpu": "1"}, "limits": {"memory": "2Gi"}}


def test_resizer_runs_as_the_images_user_and_group_not_gid_0():
    """kubelet takes only the UID from an image's USER uid:gid; the GID must be in the pod spec."""
    from thumbnail_operator.jobs import RESIZER_UID
    sc = build_job(thumbnailjob(), SETTINGS)["spec"]["template"]["spec"]["securityContext"]
    assert (sc["runAsUser"], sc["runAsGroup"], sc["runAsNonRoot"]) == (RESIZER_UID, RESIZER_UID, True)
    dockerfile = (pathlib.Path(__file__).resolve().parents[2] / "Dockerfile.resizer").read_text()
    assert f"USER {RESIZER_UID}:{RESIZER_UID}" in dockerfile
