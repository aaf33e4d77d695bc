"""Errors that cross the resizer's boundary, and the exit codes they become.

Exit codes follow ``sysexits.h`` (defined in the contract, :mod:`thumbnailer.api`) so the
operator's Job ``podFailurePolicy`` can tell them apart: a bad image is permanent (fail the
Job at once), a store outage is worth retrying (let ``backoffLimit`` retry the pod).
"""

from __future__ import annotations

from thumbnailer.api import (EXIT_BAD_IMAGE, EXIT_CONFIG, EXIT_INTERNAL, EXIT_OK, EXIT_RETRYABLE,
                             PERMANENT_EXIT_CODES, ImageRejected, Refusal)

__all__ = ["EXIT_BAD_IMAGE", "EXIT_CONFIG", "EXIT_INTERNAL", "EXIT_OK", "EXIT_RETRYABLE", "PERMANENT_EXIT_CODES",
           "ImageRejected", "Refusal", "SourceMissing", "StoreRefused", "StoreUnavailable"]


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
