"""``python -m thumbnail_operator``: run the operator (Kopf) with the settings from the environment."""

from __future__ import annotations

import kopf

from . import handlers  # noqa: F401 - registers the handlers
from .settings import OperatorSettings, namespace_patterns


def main() -> None:
    settings = OperatorSettings()
    patterns = namespace_patterns(settings.watch_namespace)
    kopf.configure(verbose=False, log_format=kopf.LogFormat.JSON)  # structured logs, one JSON object a line
    kopf.run(
        standalone=True,
        identity=settings.identity(),
        clusterwide=not patterns,
        namespaces=patterns,
        liveness_endpoint=f"http://{settings.liveness_host}:{settings.liveness_port}/healthz",
    )


if __name__ == "__main__":
    main()
