"""Job and pod state -> ThumbnailJob status (pure function, plain dicts)."""

import json

from thumbnail_operator.status import desired_status, parse_termination_message, set_condition

NOW = "2026-01-01T00:00:10Z"


def tj(status=None, generation=1):
    return {"metadata": {"name": "cat", "namespace": "ns", "generation": generation}, "status": status or {}}


def job(active=0, conditions=(), **status):
    return {"metadata": {"name": "cat-g1"},
            "status": {"active": active, "startTime": "2026-01-01T00:00:01+00:00",
                       "conditions": list(conditions), **status}}


def pod(phase, exit_code=None, message=None, finished="2026-01-01T00:00:05Z"):
    cs = {"state": {"running": {}}}
    if exit_code is not None:
        cs = {"state": {"terminated": {"exitCode": exit_code, "message": message, "finishedAt": finished}}}
    return {"status": {"phase": phase, "containerStatuses": [cs]}}


def cond(status, type_):
    return next(c for c in status["conditions"] if c["type"] == type_)


def test_a_created_job_is_pending_and_a_running_pod_makes_it_running():
    assert desired_status(tj(), job(), [], NOW)["phase"] == "Pending"
    running = desired_status(tj(), job(active=1), [pod("Running")], NOW)
    assert running["phase"] == "Running" and running["reason"] == "Rendering"
    assert running["jobName"] == "cat-g1" and running["startTime"] == "2026-01-01T00:00:01Z"
    assert cond(running, "Complete")["status"] == "False" and cond(running, "Failed")["status"] == "False"


def test_success_records_the_output_from_the_termination_message():
    result = {"bucket": "b", "key": "thumbnails/ns/cat.jpg", "width": 100, "height": 100,
              "contentType": "image/jpeg", "bytes": 4321, "frames": 1}
    done = desired_status(tj(), job(conditions=[{"type": "Complete", "status": "True"}],
                                    completionTime="2026-01-01T00:00:06+00:00"),
                          [pod("Succeeded", 0, json.dumps(result))], NOW)
    assert done["phase"] == "Succeeded" and done["reason"] == "ThumbnailReady"
    assert done["output"] == result
    assert done["message"] == "100x100 image/jpeg, 4321 bytes"
    assert done["completionTime"] == "2026-01-01T00:00:06Z"
    assert cond(done, "Complete")["status"] == "True" and cond(done, "Failed")["status"] == "False"


def test_failure_takes_the_resizer_reason_from_the_latest_failed_pod():
    failed_job = job(conditions=[{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                  "message": "Job has reached the specified backoff limit"}])
    pods = [pod("Failed", 75, "StoreUnavailable: reading s3://b/k: timeout", "2026-01-01T00:00:02Z"),
            pod("Failed", 65, "TruncatedImage: the image file is truncated", "2026-01-01T00:00:09Z")]
    st = desired_status(tj(), failed_job, pods, NOW)
    assert (st["phase"], st["reason"]) == ("Failed", "TruncatedImage")
    assert st["message"] == "the image file is truncated"
    assert cond(st, "Failed")["status"] == "True" and cond(st, "Failed")["reason"] == "TruncatedImage"


def test_failure_without_a_message_uses_the_job_condition():
    st = desired_status(tj(), job(conditions=[{"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
                                               "message": "Job was active longer than specified deadline"}]),
                        [], NOW)
    assert (st["phase"], st["reason"]) == ("Failed", "DeadlineExceeded")


def test_last_transition_time_changes_only_when_the_condition_status_changes():
    first = set_condition([], "Complete", "False", "JobCreated", "waiting", 1, "2026-01-01T00:00:00Z")
    same = set_condition(first, "Complete", "False", "Rendering", "running", 1, "2026-01-01T00:00:05Z")
    flipped = set_condition(same, "Complete", "True", "ThumbnailReady", "done", 1, "2026-01-01T00:00:09Z")
    assert same[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z" and same[0]["reason"] == "Rendering"
    assert flipped[0]["lastTransitionTime"] == "2026-01-01T00:00:09Z"


def test_reconciling_twice_changes_nothing():
    first = desired_status(tj(), job(active=1), [pod("Running")], NOW)
    second = desired_status(tj(first), job(active=1), [pod("Running")], "2026-01-01T00:01:00Z")
    assert second == first


def test_termination_message_parsing():
    assert parse_termination_message("ImageTooLarge: 10000x10000 pixels") == ("ImageTooLarge", "10000x10000 pixels")
    assert parse_termination_message("Traceback (most recent call last):") is None
    assert parse_termination_message("") is None


def succeeded(result: dict) -> dict:
    return desired_status(tj(), job(conditions=[{"type": "Complete", "status": "True"}]),
                          [pod("Succeeded", 0, json.dumps(result))], NOW)


def test_an_animation_cut_at_the_frame_limit_says_so():
    result = {"bucket": "b", "key": "thumbnails/ns/cat.gif", "width": 100, "height": 100,
              "contentType": "image/gif", "bytes": 90000, "frames": 200, "sourceFrames": 300}
    done = succeeded(result)
    assert done["message"] == ("100x100 image/gif, 90000 bytes, frames: 200 of 300 "
                               "(the animation is cut at the frame limit or the decode budget)")
    assert (done["output"]["frames"], done["output"]["sourceFrames"]) == (200, 300)
    assert cond(done, "Complete")["message"] == done["message"]


def test_a_still_made_from_an_animation_says_so():
    done = succeeded({"width": 100, "height": 100, "contentType": "image/jpeg", "bytes": 3000, "frames": 1,
                      "sourceFrames": 300})
    assert done["message"] == "100x100 image/jpeg, 3000 bytes, frames: 1 of 300 (a still of the first frame)"


def test_a_whole_animation_and_an_old_resizer_add_nothing():
    whole = succeeded({"width": 100, "height": 100, "contentType": "image/gif", "bytes": 9, "frames": 3,
                       "sourceFrames": 3})
    old = succeeded({"width": 100, "height": 100, "contentType": "image/gif", "bytes": 9, "frames": 3})
    assert whole["message"] == old["message"] == "100x100 image/gif, 9 bytes"


def failed(*pods_) -> dict:
    return desired_status(tj(), job(conditions=[{"type": "Failed", "status": "True", "reason": "PodFailurePolicy",
                                                 "message": "Container resizer for pod ns/p failed"}]),
                          list(pods_), NOW)


def test_the_resizers_internal_error_is_the_reason_with_its_one_line_message():
    st = failed(pod("Failed", 70, "InternalError: KeyError: 'JPEG'"))
    assert (st["phase"], st["reason"], st["message"]) == ("Failed", "InternalError", "KeyError: 'JPEG'")


def test_an_invalid_source_key_is_the_reason():
    st = failed(pod("Failed", 65, "InvalidSourceKey: '../x' is not a usable S3 object key: object name with "
                                  "'.' or '..' path segment is not supported"))
    assert st["reason"] == "InvalidSourceKey" and st["message"].startswith("'../x' is not a usable S3 object key")


def test_a_crash_before_reporting_shows_the_last_log_line_not_a_cut_traceback():
    # FallbackToLogsOnError: the kubelet puts the log tail in the message, cut anywhere.
    tail = ('max_bytes)\n  File "/tmp/newuser/resizer/store.py", line 38, in download\n'
            '    stat = self._client.stat_object(bucket, key)\n'
            "ValueError: object name with '.' or '..' path segment is not supported\n")
    st = failed(pod("Failed", 1, tail))
    assert st["reason"] == "ResizerFailed"
    assert st["message"] == "ValueError: object name with '.' or '..' path segment is not supported"
    assert "\n" not in failed(pod("Failed", 1, "x" * 2000 + "\n"))["message"]
    assert len(failed(pod("Failed", 1, "x" * 2000))["message"]) == 500


def test_an_oom_killed_resizer_says_out_of_memory_and_names_the_limit():
    killed = pod("Failed", 137, None)
    killed["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] = "OOMKilled"
    killed["spec"] = {"containers": [{"name": "resizer", "resources": {"limits": {"memory": "1Gi"}}}]}
    st = failed(killed)
    assert (st["phase"], st["reason"]) == ("Failed", "OutOfMemory")
    assert "memory limit (1Gi)" in st["message"] and "resizer.resources" in st["message"]


def test_a_new_generation_clears_the_previous_completion_time():
    """The status is a merge patch: completionTime must be written as null, or generation 1's stays."""
    old = {"phase": "Succeeded", "observedGeneration": 1, "completionTime": "2026-01-01T00:00:06Z"}
    running = desired_status(tj(old, generation=2), job(active=1), [pod("Running")], NOW)
    assert running["phase"] == "Running" and running["observedGeneration"] == 2
    assert "completionTime" in running and running["completionTime"] is None


def test_running_stays_running_when_the_pods_were_read_before_the_status_said_so():
    # A batch's pods are read once per Job event, possibly before a member's status was written
    # Running from a later read: that older view must not send it back to Pending.
    running = desired_status(tj(), job(active=1), [pod("Running")], NOW)
    again = desired_status(tj(running), job(active=1), [pod("Pending")], NOW)
    assert again["phase"] == "Running" and again["reason"] == "Rendering"
    # ... but only for the same Job and generation: a member queued again into another Job starts over.
    other = {**job(active=1), "metadata": {"name": "thumbnail-batch-b"}}
    assert desired_status(tj(running), other, [pod("Pending")], NOW)["phase"] == "Pending"
    assert desired_status(tj(running, generation=2), job(active=1), [pod("Pending")], NOW)["phase"] == "Pending"
