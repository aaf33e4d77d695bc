"""The contract between the components: the ThumbnailJob API, what a spec means where it is
silent, the limits, the resizer's environment, its failure reasons and exit codes, and the
labels and annotations. Dependency-free: the uploader, the operator and the resizer (whose
image holds only this module of the package) import it, and nothing here is spelt twice.

``crds/thumbnailjob.yaml`` is the source of truth for the API; tests/unit/test_api_contract.py
checks that the two agree.
"""

import json

GROUP = "thumbnailer.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ThumbnailJob"
PLURAL = "thumbnailjobs"
CRD_NAME = f"{PLURAL}.{GROUP}"

#: status.phase values (a summary; the conditions are the API).
PHASE_PENDING = "Pending"
PHASE_RUNNING = "Running"
PHASE_SUCCEEDED = "Succeeded"
PHASE_FAILED = "Failed"
PHASES = (PHASE_PENDING, PHASE_RUNNING, PHASE_SUCCEEDED, PHASE_FAILED)

#: Condition types: ``kubectl wait --for=condition=Complete`` (or ``Failed``).
CONDITION_COMPLETE = "Complete"
CONDITION_FAILED = "Failed"

# -- What a spec asks for where it leaves a field out (the CRD's defaults), and what it may ask.
DEFAULT_WIDTH = 100
DEFAULT_HEIGHT = 100
DEFAULT_FIT = "cover"
#: cover: scale to fill the box, centre-crop; contain: scale to fit inside, pad; fill: stretch.
FITS = ("cover", "contain", "fill")
#: spec.format; absent: chosen from the source (JPEG for opaque stills, PNG with alpha, GIF animated).
OUTPUT_FORMATS = ("jpeg", "png", "webp", "gif")
#: The thumbnail's object key is ``<prefix>/<namespace>/<name>.<extension>``, by output format.
OUTPUT_EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp", "gif": "gif"}
#: Largest spec.size.width and height, pixels.
MAX_DIMENSION = 4096

# -- Limits: the defaults of the settings that carry them (uploader, operator, resizer, chart).
#: Decompression-bomb limit, declared width x height in pixels: Pillow's own warning threshold
#: (``Image.MAX_IMAGE_PIXELS``, about 89.5 megapixels, a 9459 x 9459 image).
DEFAULT_MAX_PIXELS = 89_478_485
#: Largest source, bytes (50 MiB).
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
#: Frames kept from an animation; a longer one is cut there and the status says so.
DEFAULT_MAX_FRAMES = 200
#: Decode budget of an animation: canvas width x height summed over the frames decoded, pixels.
#: An animation is cut where the next frame would pass it (as at DEFAULT_MAX_FRAMES): 200 frames
#: of 3000 x 3000 (a 1.7 MB GIF) cost the whole CPU budget before; this keeps 44 of them, about 3 s.
DEFAULT_MAX_ANIMATION_PIXELS = 400_000_000
#: Output budget: width x height x frames kept, pixels (4096 x 4096: one 64 MB RGBA frame, or
#: 200 frames of 289 x 289; the encoder holds every output frame of an animation).
DEFAULT_MAX_OUTPUT_PIXELS = 16_777_216
#: CPU seconds one image may cost in the resizer; the costliest legitimate image measured,
#: an 89-megapixel WebP or PNG, takes about 4.
DEFAULT_MAX_CPU_SECONDS = 15


class ResizerEnv:
    """The names of the resizer container's environment variables: the operator writes them
    (``thumbnail_operator.jobs.build_job``), the resizer reads them (``resizer.settings``)."""

    S3_ENDPOINT = "S3_ENDPOINT"
    S3_SECURE = "S3_SECURE"
    S3_REGION = "S3_REGION"
    S3_ACCESS_KEY = "S3_ACCESS_KEY"
    S3_SECRET_KEY = "S3_SECRET_KEY"
    SOURCE_BUCKET = "SOURCE_BUCKET"
    SOURCE_KEY = "SOURCE_KEY"
    OUTPUT_BUCKET = "OUTPUT_BUCKET"
    OUTPUT_KEY = "OUTPUT_KEY"
    PREVIOUS_OUTPUT_KEY = "PREVIOUS_OUTPUT_KEY"
    THUMBNAIL_WIDTH = "THUMBNAIL_WIDTH"
    THUMBNAIL_HEIGHT = "THUMBNAIL_HEIGHT"
    THUMBNAIL_FIT = "THUMBNAIL_FIT"
    THUMBNAIL_FORMAT = "THUMBNAIL_FORMAT"
    MAX_PIXELS = "MAX_PIXELS"
    MAX_BYTES = "MAX_BYTES"
    MAX_FRAMES = "MAX_FRAMES"
    MAX_ANIMATION_PIXELS = "MAX_ANIMATION_PIXELS"
    MAX_OUTPUT_PIXELS = "MAX_OUTPUT_PIXELS"
    MAX_CPU_SECONDS = "MAX_CPU_SECONDS"
    ACCEPT_TRUNCATED = "ACCEPT_TRUNCATED"
    TERMINATION_MESSAGE_PATH = "TERMINATION_MESSAGE_PATH"
    #: A batch Job's work list: a JSON array of items, each overriding the per-item variables
    #: above (:data:`BATCH_ITEM_FIELDS`); set instead of SOURCE_KEY and the rest.
    BATCH_ITEMS = "BATCH_ITEMS"


#: The variables one batch item may set (``BATCH_ITEMS``), by their JSON keys in the item.
BATCH_ITEM_FIELDS = {
    "sourceBucket": ResizerEnv.SOURCE_BUCKET, "sourceKey": ResizerEnv.SOURCE_KEY,
    "outputKey": ResizerEnv.OUTPUT_KEY, "previousOutputKey": ResizerEnv.PREVIOUS_OUTPUT_KEY,
    "width": ResizerEnv.THUMBNAIL_WIDTH, "height": ResizerEnv.THUMBNAIL_HEIGHT,
    "fit": ResizerEnv.THUMBNAIL_FIT, "format": ResizerEnv.THUMBNAIL_FORMAT,
}
#: First line of a batch's termination message; one line per item with an outcome follows:
#: ``<index> ok <extension> <contentType> <width> <height> <bytes> <frames> <sourceFrames>``,
#: ``<index> failed <Reason>: <text>`` (final) or ``<index> retry <Reason>: <text>`` (run it again).
#: Items without a line did not finish. The kubelet keeps at most 4096 bytes of it.
#: ``resizer.batch.BatchReport`` writes it, :func:`parse_batch_report` reads it.
BATCH_REPORT_HEADER = "thumbnailer-batch/v1"
#: The outcomes a batch report line can give.
BATCH_OUTCOMES = ("ok", "failed", "retry")
#: A batch's CPU backstop: the kernel kills the pod this many seconds past the sum of its items' budgets.
HARD_BATCH_GRACE_SECONDS = 10
#: Largest ``BATCH_MAX_ITEMS``: every item's line must fit in the 4096-byte termination message.
MAX_BATCH_ITEMS = 50


# -- The resizer's exit codes (sysexits.h), which the Job's podFailurePolicy tells apart.
#: The thumbnail was written.
EXIT_OK = 0
#: EX_DATAERR: the source can never make a thumbnail (corrupt, not an image, too large,
#: unsupported, too complex). Permanent: the Job must not retry.
EXIT_BAD_IMAGE = 65
#: EX_SOFTWARE: an unexpected exception (a bug, or a case the resizer does not know).
#: Permanent: the same input hits the same code path again.
EXIT_INTERNAL = 70
#: EX_TEMPFAIL: the store could not be reached or failed. Worth retrying.
EXIT_RETRYABLE = 75
#: EX_CONFIG: settings the resizer cannot use, or a store that refuses for good. Permanent.
EXIT_CONFIG = 78
#: Exit codes after which retrying cannot help (the operator's podFailurePolicy fails the Job at once).
PERMANENT_EXIT_CODES = (EXIT_BAD_IMAGE, EXIT_INTERNAL, EXIT_CONFIG)

# -- Reasons (status.reason and the conditions' reason; ``reason`` of an upload's problem+json).
#: While a ThumbnailJob is on its way, and when it is done.
PROGRESS_REASONS = ("Queued", "JobCreated", "Rendering", "ThumbnailReady")
#: The resizer's, from its termination message ``<Reason>: <text>``. The image can never make
#: a thumbnail (exit 65):
IMAGE_REASONS = ("NotAnImage", "UnsupportedFormat", "ImageTooLarge", "FileTooLarge", "TruncatedImage",
                 "CorruptImage", "EmptyFile", "MetadataTooLarge", "TooComplex", "OutputTooLarge",
                 "SourceNotFound", "InvalidSourceKey", "InvalidSourceBucket")
#: ... the store refuses for good, or the settings are unusable (exit 78):
CONFIG_REASONS = ("StoreAccessDenied", "StoreRejected", "InvalidConfiguration")
#: ... the store stayed unreachable (exit 75, retried), or a bug (exit 70):
RESIZER_REASONS = IMAGE_REASONS + CONFIG_REASONS + ("StoreUnavailable", "InternalError")
#: The operator's own, read off the Job and its pods.
JOB_REASONS = ("OutOfMemory", "ResizerFailed", "BackoffLimitExceeded", "DeadlineExceeded", "JobFailed")
FAILURE_REASONS = RESIZER_REASONS + JOB_REASONS

# -- Refusals: a lasting failure with a reason.
class Refusal(Exception):
    """A lasting failure with a ``reason`` (a CamelCase word for a Kubernetes condition) and a
    ``message`` (one short sentence for a person); ``str()`` is the termination message ``<reason>: <message>``."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class ImageRejected(Refusal):
    """The source cannot be made into a thumbnail, and never will be (exit 65).

    ``reason`` is one of :data:`thumbnailer.api.IMAGE_REASONS` (a CamelCase word for a
    Kubernetes condition: ``TooComplex`` is over the CPU budget or more JPEG scans than any
    encoder writes, ``OutputTooLarge`` width x height x frames of the result over its budget,
    ``InvalidSourceKey`` / ``InvalidSourceBucket`` a source name the S3 client or server
    refuses); ``message`` is one short sentence for a person.
    """


# -- Labels and annotations.
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
#: The value of :data:`LABEL_MANAGED_BY` on every Job the operator creates.
MANAGED_BY = "thumbnailer-operator"
LABEL_CREATED_BY = "app.kubernetes.io/created-by"
#: The value of :data:`LABEL_CREATED_BY` on every ThumbnailJob the uploader creates.
CREATED_BY_UPLOADER = "thumbnailer-uploader"
#: On a Job and its pods: the ThumbnailJob they serve, and its generation.
LABEL_THUMBNAILJOB = f"{GROUP}/thumbnailjob"
LABEL_GENERATION = f"{GROUP}/generation"
#: On a batch Job (value ``"true"``): it serves several ThumbnailJobs, listed in
#: :data:`ANNOTATION_BATCH_ITEMS`; each member also has a label ``<LABEL_MEMBER_PREFIX><name>``
#: whose value is the generation it is rendered at (a member finds its Jobs by that label).
LABEL_BATCH = f"{GROUP}/batch"
LABEL_MEMBER_PREFIX = f"member.{GROUP}/"
#: On a batch Job: JSON array of its members, ``{"name", "uid", "generation"}``, in item order.
ANNOTATION_BATCH_ITEMS = f"{GROUP}/items"
#: On a finished Job whose outcome is in its ThumbnailJob's status (value ``"true"``), set with the
#: Job's TTL: counting the running Jobs lists only the Jobs without it.
LABEL_RECORDED = f"{GROUP}/recorded"
#: On an uploaded ThumbnailJob: the SHA-256 of its source (idempotent retries compare it).
ANNOTATION_SHA256 = f"{GROUP}/source-sha256"
#: The resizer's container name, and the UID and GID it runs as (the image's USER).
RESIZER_CONTAINER = "resizer"
RESIZER_UID = 10001


def parse_batch_report(text: str) -> dict[int, tuple[str, str]] | None:
    """Read a batch pod's termination message (format: :data:`BATCH_REPORT_HEADER`).

    Returns ``{item index: (outcome, rest of the line)}`` with ``outcome`` one of
    :data:`BATCH_OUTCOMES`, for the items that have a line (the others did not finish), or
    None when ``text`` is not a batch report (a single Job's ``<Reason>: <text>``, or empty).
    Lines that are not ``<index> <outcome> ...`` are left out; a later line for the same
    index wins.
    """
    lines = text.splitlines()
    if not lines or lines[0].strip() != BATCH_REPORT_HEADER:
        return None
    report: dict[int, tuple[str, str]] = {}
    for line in lines[1:]:
        index, _, rest = line.partition(" ")
        outcome, _, rest = rest.partition(" ")
        if index.isdigit() and outcome in BATCH_OUTCOMES:
            report[int(index)] = (outcome, rest.strip())
    return report


def batch_members(job: dict) -> list[dict]:
    """A batch Job's members (``{"name", "uid", "generation"}``, in item order) from its annotation
    :data:`ANNOTATION_BATCH_ITEMS`; [] for a single Job or an unreadable annotation."""
    raw = ((job.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_BATCH_ITEMS)
    if not raw:
        return []
    try:
        members = json.loads(raw)
    except ValueError:
        return []
    return [m for m in members if isinstance(m, dict)] if isinstance(members, list) else []
