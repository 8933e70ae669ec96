"""Checking a response body against the API's own OpenAPI schema, as the fuzzer does, for
bodies the fuzzer's demo data never produces."""

from __future__ import annotations

from typing import Any

import jsonschema


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema objects as JSON Schema: `nullable: true` becomes "or null"."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable"):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def schema_errors(schema: dict[str, Any], component: str, body: Any) -> list[str]:
    """The ways `body` breaks the schema's `component` (an empty list when it conforms)."""
    document = {
        "$ref": f"#/components/schemas/{component}",
        "components": _json_schema(schema["components"]),
    }
    validator = jsonschema.Draft7Validator(document)
    return [
        f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(body)
    ]
