"""The chart's scenarios (tests/chartscenarios.py) on kind: the same tests as the real node's
(tests/node/test_node_chart.py), with the release installed the same way."""

from __future__ import annotations

import pytest

from chartscenarios import *  # noqa: F403 (the shared scenarios are this module's tests)

pytestmark = [pytest.mark.kind, pytest.mark.timeout(2400)]
