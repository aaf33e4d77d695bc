"""The API's view of a ThumbnailJob (uploader.views): what GET /v1/jobs/{id} answers."""

from uploader.views import deleting, job_view, not_modified, public_status


def resource(generation: int, observed: int | None, phase: str = "Succeeded") -> dict:
    status = {"phase": phase, "reason": "ThumbnailReady", "message": "100x100 image/jpeg, 4321 bytes",
              "completionTime": "2026-01-01T00:00:06Z", "output": {"width": 100, "height": 100, "bytes": 4321}}
    if observed is not None:
        status["observedGeneration"] = observed
    return {"metadata": {"name": "tj-1", "generation": generation, "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"source": {"bucket": "b", "key": "k"}}, "status": status}


def test_a_status_of_an_older_generation_is_processing_not_succeeded():
    view = job_view(resource(generation=2, observed=1))
    assert view["status"] == "processing" and view["phase"] == "Pending"
    assert view["completed_at"] is None and view["thumbnail_url"] is None and "thumbnail" not in view
    assert view["reason"] is None and view["message"] is None


def test_an_observed_generation_keeps_its_terminal_phase():
    assert public_status(resource(generation=2, observed=2)) == "succeeded"
    assert public_status(resource(generation=1, observed=None)) == "succeeded"  # written before the field
    assert public_status(resource(generation=3, observed=2, phase="Failed")) == "processing"
    view = job_view(resource(generation=2, observed=2))
    assert view["completed_at"] == "2026-01-01T00:00:06Z" and view["thumbnail"]["bytes"] == 4321


def test_a_job_being_deleted_keeps_its_last_status_though_deletion_bumped_its_generation():
    tj = resource(generation=2, observed=1)
    tj["metadata"]["deletionTimestamp"] = "2026-01-01T00:01:00Z"
    assert deleting(tj) and public_status(tj) == "succeeded"


def test_if_none_match_compares_weakly_and_star_matches_anything():
    import falcon.testing

    def tags(header):
        return falcon.Request(falcon.testing.create_environ("/", headers={"If-None-Match": header})).if_none_match

    assert not_modified(tags('"abc"'), "abc") and not_modified(tags('W/"abc"'), "abc")
    assert not_modified(tags("*"), "abc") and not_modified(tags('"x", W/"abc"'), "abc")
    assert not not_modified(tags('"abd"'), "abc") and not not_modified(None, "abc")
