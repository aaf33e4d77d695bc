"""The operator's Prometheus metrics (served on ``METRICS_PORT``)."""

from prometheus_client import Counter, Gauge, Histogram

THUMBNAILJOBS = Gauge("thumbnailer_thumbnailjobs", "ThumbnailJobs by phase (at the last resync).", ["phase"])
QUEUED = Gauge("thumbnailer_queue_length", "ThumbnailJobs waiting for a Job slot (at the last resync).")
RECONCILE_ERRORS = Counter("thumbnailer_reconcile_errors_total", "Reconciles that raised an error.")
JOBS_CREATED = Counter("thumbnailer_jobs_created_total", "Resizer Jobs created.")
BATCH_ITEMS = Histogram("thumbnailer_batch_items", "ThumbnailJobs per resizer Job created (1: a Job of its own).",
                        buckets=(1, 2, 5, 10, 20, 50))
TIME_TO_SUCCEEDED = Histogram(
    "thumbnailer_time_to_succeeded_seconds", "From a ThumbnailJob's creation to its Succeeded status, seconds.",
    buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800))
