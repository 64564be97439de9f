"""Keep what is usable from an answer that is not valid: cut-off JSON, or some fields wrong.

An answer cut off at the token limit is the usual case; closing its open strings and brackets
recovers everything written before the cut.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema

_CLOSERS = {"{": "}", "[": "]"}
_MAX_CUTS = 64


def _scan(text: str) -> tuple[bool, list[str], list[int]]:
    """(inside a string at the end, open brackets, offsets of commas between values)."""
    in_string = escaped = False
    stack: list[str] = []
    commas: list[int] = []
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in _CLOSERS:
            stack.append(ch)
        elif ch in "}]":
            if stack:
                stack.pop()
        elif ch == ",":
            commas.append(i)
    return in_string, stack, commas


def is_cut_off(text: str) -> bool:
    """Whether the JSON in `text` stops with a string or bracket still open."""
    start = text.find("{")
    if start < 0:
        return False
    in_string, stack, _ = _scan(text[start:])
    return in_string or bool(stack)


def _closed(prefix: str) -> str:
    in_string, stack, _ = _scan(prefix)
    text = prefix
    if in_string:
        # A dangling backslash would escape the closing quote.
        text = text[:-1] if text.endswith("\\") and not text.endswith("\\\\") else text
        text += '"'
    text = text.rstrip()
    if text.endswith(","):
        text = text[:-1]
    if text.endswith(":"):
        text += " null"
    return text + "".join(_CLOSERS[b] for b in reversed(stack))


def parse_lenient(text: str) -> Any | None:
    """The JSON value in `text`, completing it if it was cut off; None if nothing parses."""
    start = text.find("{")
    if start < 0:
        return None
    body = text[start:]
    try:
        value, _ = json.JSONDecoder().raw_decode(body)
        return value
    except json.JSONDecodeError:
        pass
    _, _, commas = _scan(body)
    # Close at the end first, then give up the last element, then the one before, ...
    for cut in [len(body), *reversed(commas[-_MAX_CUTS:])]:
        try:
            return json.loads(_closed(body[:cut]))
        except json.JSONDecodeError:
            continue
    return None


def default_for(schema: dict[str, Any]) -> Any:
    """The emptiest value a schema accepts: "", [], null, or its only allowed value."""
    if "enum" in schema and len(schema["enum"]) == 1:
        return schema["enum"][0]
    if "anyOf" in schema:
        if any(option.get("type") == "null" for option in schema["anyOf"]):
            return None
        return default_for(schema["anyOf"][0])
    kind = schema.get("type")
    if kind == "object":
        return {k: default_for(v) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [default_for(schema.get("items", {})) for _ in range(schema.get("minItems", 0))]
    if kind in ("number", "integer"):
        return 0
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return ""


def _valid(value: Any, schema: dict[str, Any]) -> bool:
    return jsonschema.Draft202012Validator(schema).is_valid(value)


def salvage(value: Any, schema: dict[str, Any]) -> Any:
    """`value` with every part that breaks `schema` replaced by an empty one.

    Invalid array items are dropped rather than emptied (half an action item is noise), unless
    the schema demands a count: then they are repaired in place and missing ones padded.
    """
    if _valid(value, schema):
        return value
    kind = schema.get("type")
    if kind == "object" and isinstance(value, dict):
        return {
            key: salvage(value[key], sub) if key in value else default_for(sub)
            for key, sub in schema.get("properties", {}).items()
        }
    if kind == "array" and isinstance(value, list):
        item_schema = schema.get("items", {})
        if schema.get("minItems", 0) > 0:
            # Positions matter when a count is demanded (topic i belongs to segment i).
            kept = [salvage(v, item_schema) for v in value]
        else:
            kept = [v for v in value if _valid(v, item_schema)]
        if "maxItems" in schema:
            kept = kept[: schema["maxItems"]]
        while len(kept) < schema.get("minItems", 0):
            kept.append(default_for(item_schema))
        return kept
    return default_for(schema)
