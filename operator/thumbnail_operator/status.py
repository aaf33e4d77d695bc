"""Pure functions: the state of a Job and its pods in, a ThumbnailJob ``status`` out.

Reason values written to ``status.reason`` and the conditions:

==================  =========  ==========================================================
reason              phase      meaning
==================  =========  ==========================================================
Queued              Pending    the concurrency cap is reached; waits for a slot, oldest first (or,
                               edited while its batch runs, for that batch to finish)
JobCreated          Pending    the Job exists, its pod has not started
Rendering           Running    the resizer pod is running
ThumbnailReady      Succeeded  the thumbnail is in the store (``status.output``)
<resizer reason>    Failed     the resizer's own reason (``thumbnailer.api.RESIZER_REASONS``),
                               from its termination message ``<Reason>: <text>``
OutOfMemory         Failed     the kubelet killed the resizer at its memory limit (OOMKilled)
                               on every try; the message names the limit
ResizerFailed       Failed     the pod failed without a ``<Reason>: <text>`` message (it
                               crashed before reporting); the message is the last log line
BackoffLimitExceeded Failed    retryable failures used up the Job's retries
DeadlineExceeded    Failed     the Job ran past activeDeadlineSeconds
JobFailed           Failed     the Job failed with no reason of its own
==================  =========  ==========================================================
"""

from __future__ import annotations

import json
import re
from typing import Any

from thumbnailer import api

from .jobs import batch_members

_REASON = re.compile(r"^([A-Z][A-Za-z0-9]*): (.*)$", re.S)


def rfc3339(value: str | None) -> str | None:
    """Normalise a timestamp to Kubernetes' form (``2026-01-02T03:04:05Z``).

    The Python client renders times as ``isoformat()`` (``+00:00``); the API
    server writes ``Z``. Writing one form keeps repeated reconciles no-ops.
    """
    if not value:
        return value
    return value.replace("+00:00", "Z").split(".")[0].rstrip("Z") + "Z"


def set_condition(conditions: list[dict], type_: str, status: str, reason: str, message: str,
                  generation: int, now: str) -> list[dict]:
    """Return ``conditions`` with condition ``type_`` set, per the Kubernetes API conventions:
    ``lastTransitionTime`` changes only when ``status`` changes."""
    out = [dict(c) for c in conditions if c.get("type") != type_]
    previous = next((c for c in conditions if c.get("type") == type_), None)
    changed = previous is None or previous.get("status") != status
    out.append({
        "type": type_, "status": status, "reason": reason, "message": message,
        "lastTransitionTime": now if changed else previous.get("lastTransitionTime", now),
        "observedGeneration": generation,
    })
    return sorted(out, key=lambda c: c["type"])


def parse_termination_message(message: str | None) -> tuple[str, str] | None:
    """Split ``"<Reason>: <text>"`` (the resizer's failure message) into (reason, text)."""
    if not message:
        return None
    m = _REASON.match(message.strip())
    return (m.group(1), m.group(2).strip()) if m else None


def _terminated(pod: dict) -> dict | None:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        t = (cs.get("state") or {}).get("terminated")
        if t:
            return t
    return None


def _job_condition(job: dict, type_: str) -> dict | None:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_ and c.get("status") == "True":
            return c
    return None


def job_finished(job: dict) -> bool:
    """Whether a Job (dict) has a True ``Complete`` or ``Failed`` condition."""
    return bool(_job_condition(job, "Complete") or _job_condition(job, "Failed"))


def desired_status(tj: dict, job: dict | None, pods: list[dict], now: str,
                   queue_position: int | None = None, outcome: tuple[str, Any] | None = None,
                   queue_message: str | None = None) -> dict[str, Any]:
    """The ``status`` the ThumbnailJob ``tj`` should have, given its Job (or None) and that Job's pods.

    ``queue_position`` (ThumbnailJobs ahead, when there is no Job because the
    concurrency cap is reached) gives phase Pending with reason ``Queued``
    (``queue_message`` replaces the message). ``outcome``: this member's own
    outcome in a batch Job (:func:`batch_outcome`, ``("ok", result)`` or
    ``("failed", (reason, message))``), which decides instead of the Job's conditions.

    All arguments are plain dicts in the API's JSON shape (camelCase); ``now`` is
    an RFC 3339 timestamp used for condition transitions. The previous status
    is carried over where nothing changed (so repeated reconciles are no-ops).
    """
    meta = tj["metadata"]
    gen = meta.get("generation", 1)
    old = tj.get("status") or {}
    conditions = old.get("conditions") or []
    status: dict[str, Any] = {"observedGeneration": gen}
    # None, not absent (a merge patch): a ThumbnailJob queued again names no Job.
    status["jobName"] = job["metadata"]["name"] if job is not None else None
    if job is not None and (job.get("status") or {}).get("startTime"):
        status["startTime"] = rfc3339(job["status"]["startTime"])

    complete = _job_condition(job, "Complete") if job else None
    failed = _job_condition(job, "Failed") if job else None
    if outcome is not None:
        complete = failed = None
        if outcome[0] == "ok":
            complete = {"lastTransitionTime": _finished_at(pods) or now}
        else:
            failed = {"lastTransitionTime": _finished_at(pods) or now}
    if complete:
        result = outcome[1] if outcome else _result(pods)
        if result is None:  # the pod is gone (TTL) or its message unreadable: keep what we knew
            result = old.get("output") or {}
        phase, reason = api.PHASE_SUCCEEDED, "ThumbnailReady"
        message = (f"{result.get('width')}x{result.get('height')} {result.get('contentType')}, "
                   f"{result.get('bytes')} bytes{_frames_note(result)}" if result else "thumbnail written")
        status["output"] = {k: result[k] for k in ("bucket", "key", "width", "height", "contentType", "bytes",
                                                   "frames", "sourceFrames") if k in result}
        status["completionTime"] = (rfc3339(complete["lastTransitionTime"]) if outcome
                                    else rfc3339(job["status"].get("completionTime")) or now)
    elif failed:
        phase = api.PHASE_FAILED
        reason, message = failed.get("reason") or "JobFailed", failed.get("message") or "the Job failed"
        parsed = outcome[1] if outcome else _failure(pods)
        if parsed:
            reason, message = parsed
        status["completionTime"] = rfc3339(failed.get("lastTransitionTime")) or now
    elif job is not None and (_any_started(pods) or (
            old.get("phase") == api.PHASE_RUNNING and old.get("jobName") == job["metadata"]["name"]
            and old.get("observedGeneration") == gen)):
        # Once a pod has started, stay Running until the Job finishes (no flapping back to
        # Pending between a pod's exit and the Job's condition, or between retries, or when
        # the pods were read before the status that already says Running).
        phase, reason, message = api.PHASE_RUNNING, "Rendering", "the resizer is making the thumbnail"
    elif job is None and queue_position is not None:
        phase, reason = api.PHASE_PENDING, "Queued"
        message = queue_message or (f"waiting for a free Job slot; {queue_position} ahead" if queue_position
                                    else "waiting for a free Job slot; next in line")
    else:
        phase, reason, message = api.PHASE_PENDING, "JobCreated", "waiting for the resizer pod to start"

    done = phase in (api.PHASE_SUCCEEDED, api.PHASE_FAILED)
    conditions = set_condition(conditions, api.CONDITION_COMPLETE, "True" if phase == api.PHASE_SUCCEEDED
                               else "False", reason, message, gen, now)
    conditions = set_condition(conditions, api.CONDITION_FAILED, "True" if phase == api.PHASE_FAILED
                               else "False", reason, message, gen, now)
    if not done:
        # None, not absent: the status is written as a merge patch, where a missing key would
        # keep the previous generation's completionTime beside phase Running.
        status["completionTime"] = None
    status.update(phase=phase, reason=reason, message=message, conditions=conditions)
    return status


def _finished_at(pods: list[dict]) -> str | None:
    """When the latest of ``pods``' containers terminated (RFC 3339), if any did."""
    times = [t.get("finishedAt") for t in (_terminated(p) for p in pods) if t and t.get("finishedAt")]
    return rfc3339(max(times)) if times else None


def batch_outcome(job: dict, pods: list[dict], member: dict, bucket: str, output_key: str) -> tuple[str, Any] | None:
    """The outcome of one member of a batch Job, from its pod's report (:mod:`resizer.batch`).

    ``member`` is the ThumbnailJob's metadata (``name``, ``uid``); ``bucket`` and
    ``output_key`` (without extension) are where the operator told the resizer to write.
    Returns ``("ok", result)`` (the result has the keys of ``status.output``),
    ``("failed", (reason, message))`` for a final failure, ``("retry", (reason, message))``
    when the item must run again, or None: the member is not in the Job, or its item did
    not finish (no line, or the pod has not terminated).
    """
    index = next((i for i, m in enumerate(batch_members(job))
                  if m.get("name") == member.get("name") and m.get("uid") == member.get("uid")), None)
    if index is None:
        return None
    for pod in pods:
        report = api.parse_batch_report((_terminated(pod) or {}).get("message", ""))
        if report is None or index not in report:
            continue
        kind, rest = report[index]
        if kind == "ok":
            fields = rest.split()
            if len(fields) != 7 or not all(f.isdigit() for f in fields[2:]):
                return None
            ext, content_type, *numbers = fields
            width, height, size, frames, source_frames = map(int, numbers)
            return "ok", {"bucket": bucket, "key": f"{output_key}.{ext}", "width": width, "height": height,
                          "contentType": content_type, "bytes": size, "frames": frames,
                          "sourceFrames": source_frames}
        return kind, parse_termination_message(rest) or ("ResizerFailed", rest or "no message")
    return None


def batch_failure(job: dict, pods: list[dict]) -> tuple[str, str]:
    """Why a batch Job's pod stopped before an item finished: (reason, message).

    OOMKilled is ``OutOfMemory``; a report whose batch stopped at a ``retry`` line (the
    store unreachable) is that line's reason for every item not reached; a message that is
    one ``<Reason>: <text>`` line (a batch that could not start) is that reason; a pod killed
    by a signal is ``ResizerFailed``; else the Job's own condition (``DeadlineExceeded``) or
    ``JobFailed``.
    """
    finished = sorted(((t.get("finishedAt") or "", t) for t in (_terminated(p) for p in pods) if t),
                      key=lambda x: x[0], reverse=True)
    for _, t in finished:
        if t.get("reason") == "OOMKilled":
            return "OutOfMemory", _oom_message(pods)
        text = t.get("message") or ""
        report = api.parse_batch_report(text)
        if report is None:
            parsed = parse_termination_message(text)
        else:
            parsed = next((parse_termination_message(rest) for kind, rest in report.values() if kind == "retry"), None)
        if parsed:
            return parsed
        if t.get("exitCode", 0) >= 128:
            return "ResizerFailed", f"the resizer pod was killed (exit code {t['exitCode']}) before this item finished"
    failed = _job_condition(job, "Failed")
    if failed:
        return failed.get("reason") or "JobFailed", failed.get("message") or "the Job failed"
    return "JobFailed", "the batch Job ended before this item finished"


def _frames_note(result: dict) -> str:
    """``", frames: 200 of 300 (...)"`` when the thumbnail shows fewer frames than the source has, else ``""``.

    ``result`` is the resizer's JSON (``frames``, ``sourceFrames``; both absent
    from resizers older than this field, which says nothing).
    """
    frames, source = result.get("frames"), result.get("sourceFrames")
    if not isinstance(frames, int) or not isinstance(source, int) or frames >= source:
        return ""
    why = "the animation is cut at the frame limit or the decode budget" if frames > 1 else "a still of the first frame"
    return f", frames: {frames} of {source} ({why})"


def _any_started(pods: list[dict]) -> bool:
    return any((p.get("status") or {}).get("phase") in ("Running", "Succeeded", "Failed") for p in pods)


def _result(pods: list[dict]) -> dict | None:
    """The resizer's JSON result from the succeeded pod's termination message."""
    for pod in pods:
        t = _terminated(pod)
        if t and t.get("exitCode") == 0 and t.get("message"):
            try:
                value = json.loads(t["message"])
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None


def _failure(pods: list[dict]) -> tuple[str, str] | None:
    """(reason, message) from the most recently finished failed pod's termination message."""
    finished = [(t.get("finishedAt") or "", t) for t in (_terminated(p) for p in pods)
                if t and t.get("exitCode")]
    for _, t in sorted(finished, key=lambda x: x[0], reverse=True):
        if t.get("reason") == "OOMKilled":
            return "OutOfMemory", _oom_message(pods)
        parsed = parse_termination_message(t.get("message"))
        if parsed:
            return parsed
        if t.get("message"):
            return "ResizerFailed", _last_line(t["message"])
    return None


def _oom_message(pods: list[dict]) -> str:
    """What an OOM kill means for the user, with the container's memory limit when the pod spec has one."""
    limit = next((((c.get("resources") or {}).get("limits") or {}).get("memory")
                  for p in pods for c in (p.get("spec") or {}).get("containers") or []), None)
    at = f" ({limit})" if limit else ""
    return (f"the resizer was killed at its memory limit{at} while decoding; raise the limit "
            "(chart: resizer.resources; operator: RESIZER_RESOURCES) or lower MAX_PIXELS")


def _last_line(log_tail: str, limit: int = 500) -> str:
    """The last non-blank line of a pod's log tail (``FallbackToLogsOnError``), at most ``limit`` characters.

    For a Python traceback that is ``<ExceptionType>: <text>``: the one line a
    person needs, without the frames' source paths or a cut-off first line.
    """
    lines = [line.strip() for line in log_tail.splitlines() if line.strip()]
    last = lines[-1] if lines else log_tail.strip()
    return last if len(last) <= limit else last[: limit - 3] + "..."


def status_changed(old: dict, new: dict) -> bool:
    """True if writing ``new`` over ``old`` would change anything."""
    return any(old.get(k) != v for k, v in new.items())
