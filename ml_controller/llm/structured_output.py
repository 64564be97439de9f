"""How a JSON schema rides along in an OpenAI-style chat request; servers disagree on the field.

- "json_schema": OpenAI's `response_format` type, which vLLM enforces with its grammar backend.
- "json_object": llama-cpp-python's server, which takes the schema inside `response_format`
  (its request model rejects the json_schema type, answering HTTP 500).
- "structured_outputs": vLLM's own request field (its older `guided_json` was removed in 0.12).
"""

from __future__ import annotations

import re
from typing import Any, Literal

Style = Literal["json_schema", "json_object", "structured_outputs"]


def schema_fields(style: Style, schema: dict[str, Any], name: str) -> dict[str, Any]:
    """The request fields that ask the server for output matching `schema`."""
    if style == "json_schema":
        # OpenAI restricts the name to [a-zA-Z0-9_-], at most 64 characters.
        safe = re.sub(r"[^a-zA-Z0-9_-]", "_", name)[:64] or "answer"
        return {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": safe, "schema": schema, "strict": True},
            }
        }
    if style == "json_object":
        return {"response_format": {"type": "json_object", "schema": schema}}
    return {"structured_outputs": {"json": schema}}


def rejects_style(status: int, body: str) -> bool:
    """Whether an error answer means the server does not understand the json_schema request.

    llama-cpp-python's server reports its request validation error as HTTP 500, naming the
    field; others answer 400 or 422.
    """
    lowered = body.lower()
    return status in (400, 422, 500) and ("response_format" in lowered or "json_schema" in lowered)
