"""values.yaml and values.schema.json cannot drift: every value is described, every described value exists."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

CHART = Path(__file__).resolve().parents[2] / "helm" / "thumbnailer"
SCHEMA = json.loads((CHART / "values.schema.json").read_text())
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())


def resolve(node: dict) -> dict:
    """Follow a local ``$ref`` (``#/definitions/...``)."""
    while "$ref" in node:
        node = SCHEMA["definitions"][node["$ref"].removeprefix("#/definitions/")]
    return node


def walk_values(values: dict, schema: dict, path: str = "") -> list[str]:
    """Problems with the keys of ``values`` against ``schema``: missing or undescribed keys."""
    problems = []
    for key, value in values.items():
        where = f"{path}{key}"
        node = schema.get("properties", {}).get(key)
        if node is None:
            problems.append(f"{where}: in values.yaml but not in the schema")
            continue
        if not node.get("description", "").strip():
            problems.append(f"{where}: no description in the schema")
        target = resolve(node)
        if isinstance(value, dict) and "properties" in target:
            problems += walk_values(value, target, where + ".")
    return problems


def walk_schema(schema: dict, values: dict, path: str = "") -> list[str]:
    """Schema properties (outside ``$ref`` blocks such as resources) with no value in values.yaml."""
    problems = []
    for key, node in schema.get("properties", {}).items():
        where = f"{path}{key}"
        if key not in values:
            problems.append(f"{where}: in the schema but not in values.yaml (so it has no documented default)")
        elif "properties" in node and "$ref" not in node:
            problems += walk_schema(node, values[key] or {}, where + ".")
    return problems


def test_the_schema_is_valid_draft_07():
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(SCHEMA)


def test_every_value_is_in_the_schema_with_a_description():
    assert walk_values(VALUES, SCHEMA) == []


def test_every_schema_property_has_a_default_in_values_yaml():
    assert walk_schema(SCHEMA, VALUES) == []


def test_typos_are_caught_at_the_top_and_in_each_component_block():
    assert SCHEMA["additionalProperties"] is False
    for key, node in SCHEMA["properties"].items():
        assert resolve(node).get("additionalProperties") is False, key


def test_the_defaults_are_valid():
    jsonschema.Draft7Validator(SCHEMA).validate(VALUES)


def test_the_walk_finds_drift():
    # The checks above would pass vacuously if the walk were broken.
    drifted = {**VALUES, "operator": {**VALUES["operator"], "newKnob": 1}}
    assert walk_values(drifted, SCHEMA) == ["operator.newKnob: in values.yaml but not in the schema"]
    assert walk_schema(SCHEMA, {k: v for k, v in VALUES.items() if k != "tests"}) == [
        "tests: in the schema but not in values.yaml (so it has no documented default)"]
