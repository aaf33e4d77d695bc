#!/usr/bin/env python3
"""Print the table of Helm values in docs/installing.md, generated from the chart.

Keys and descriptions come from helm/thumbnailer/values.schema.json, defaults
from helm/thumbnailer/values.yaml. docs/installing.md holds the output between
``<!-- helm-values:start -->`` and ``<!-- helm-values:end -->``; regenerate with

    .venv/bin/python hack/helm-values-table.py

A block whose schema is a ``$ref`` (resources, quantities) is one row.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

CHART = Path(__file__).resolve().parent.parent / "helm" / "thumbnailer"
START, END = "<!-- helm-values:start -->", "<!-- helm-values:end -->"


def rows(schema: dict, values: dict, prefix: str = "") -> list[tuple[str, object, str]]:
    """(dotted key, default, description) of every leaf, in the schema's order."""
    out = []
    for name, node in schema.get("properties", {}).items():
        key = f"{prefix}{name}"
        if "properties" in node and "$ref" not in node:
            out += rows(node, values.get(name) or {}, key + ".")
        else:
            out.append((key, values.get(name), node.get("description", "")))
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(chart: Path = CHART) -> str:
    """The Markdown table, without the markers."""
    schema = json.loads((chart / "values.schema.json").read_text())
    values = yaml.safe_load((chart / "values.yaml").read_text())
    lines = ["| key | default | meaning |", "|---|---|---|"]
    for key, default, description in rows(schema, values):
        shown = json.dumps(default, separators=(", ", ": "))
        lines.append(f"| `{key}` | `{_cell(shown)}` | {_cell(description)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(f"{START}\n{table()}{END}\n")
