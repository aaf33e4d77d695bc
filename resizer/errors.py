"""Errors that cross the resizer's boundary, and the exit codes they become.

Exit codes follow ``sysexits.h`` so the operator's Job ``podFailurePolicy``
can tell them apart: a bad image is permanent (fail the Job at once), a store
outage is worth retrying (let ``backoffLimit`` retry the pod).
"""

from __future__ import annotations

#: The thumbnail was written.
EXIT_OK = 0
#: EX_DATAERR: the source can never make a thumbnail (corrupt, not an image,
#: too large, unsupported). Permanent: the Job must not retry.
EXIT_BAD_IMAGE = 65
#: EX_SOFTWARE: an unexpected exception (a bug in the resizer, or a case it does not
#: know). Permanent: the same input hits the same code path again, so a retry only
#: repeats the failure and delays the answer; every known transient fault (the
#: store) is mapped to :data:`EXIT_RETRYABLE` explicitly.
EXIT_INTERNAL = 70
#: EX_TEMPFAIL: the store could not be reached or failed. Worth retrying.
EXIT_RETRYABLE = 75
#: EX_CONFIG: the resizer was started with settings it cannot use. Permanent.
EXIT_CONFIG = 78

#: Exit codes after which retrying cannot help (used by the operator's podFailurePolicy).
PERMANENT_EXIT_CODES = (EXIT_BAD_IMAGE, EXIT_INTERNAL, EXIT_CONFIG)


class Refusal(Exception):
    """A lasting failure with a ``reason`` (a CamelCase word for a Kubernetes condition) and a
    ``message`` (one short sentence for a person); ``str()`` is the termination message ``<reason>: <message>``."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class ImageRejected(Refusal):
    """The source cannot be made into a thumbnail, and never will be (exit 65).

    ``reason`` is a CamelCase word for a Kubernetes condition (``NotAnImage``,
    ``UnsupportedFormat``, ``ImageTooLarge``, ``FileTooLarge``,
    ``TruncatedImage``, ``CorruptImage``, ``EmptyFile``, ``MetadataTooLarge``,
    ``TooComplex`` (over the CPU budget, or more JPEG scans than any encoder writes),
    ``OutputTooLarge`` (width x height x frames of the result over its budget),
    and ``InvalidSourceKey`` / ``InvalidSourceBucket`` for a source name the S3
    client or server refuses); ``message`` is one short sentence for a person.
    """


class StoreUnavailable(Exception):
    """The S3 store could not be reached or answered with a server error (retryable)."""


class StoreRefused(Refusal):
    """The store answered, and refuses this request for good (exit 78; retrying cannot help).

    ``reason`` is ``StoreAccessDenied`` (HTTP 401/403: the credentials or the
    bucket policy do not allow it) or ``StoreRejected`` (another 4xx, e.g. a key
    the server will not take); ``message`` names the object and the S3 error code.
    """


class SourceMissing(Exception):
    """The source object does not exist in the store (permanent)."""
