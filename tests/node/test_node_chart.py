"""The chart's scenarios (tests/chartscenarios.py) on the real node: every request goes to a
Service's ClusterIP (kube-proxy's rules), every resizer is a container in containerd."""

from __future__ import annotations

import pytest

from chartscenarios import *  # noqa: F403 (the shared scenarios are this module's tests)

pytestmark = pytest.mark.node
