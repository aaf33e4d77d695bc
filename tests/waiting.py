"""Polling helper for tests that wait on a cluster to converge."""

from __future__ import annotations

import time

import pytest


def wait_for(predicate, timeout: float = 90, interval: float = 0.5, what: str = "condition"):
    """Poll ``predicate()`` until it returns a truthy value and return that value;
    fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")
