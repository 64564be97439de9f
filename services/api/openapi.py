"""Answers every route can give that FastAPI leaves out of the generated OpenAPI document.

FastAPI answers 400 "There was an error parsing the body" when a JSON body cannot even be decoded
(e.g. bytes that are not UTF-8), yet documents only 422 for body routes; clients generated from
the spec (and the schemathesis fuzz test) must see every status code the API really sends.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from services.api.schemas import ErrorOut

_BODY_UNREADABLE = {
    "description": "The body cannot be decoded (not UTF-8, or not the declared type).",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
}


def _document_body_errors(spec: dict[str, Any]) -> None:
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                operation.setdefault("responses", {}).setdefault("400", _BODY_UNREADABLE)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("ErrorOut", ErrorOut.model_json_schema(ref_template="{model}"))


def install_openapi(app: FastAPI) -> None:
    """FastAPI's document (generated once and cached), with the answers above added."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        first = app.openapi_schema is None
        spec = generate()
        if first:
            _document_body_errors(spec)  # in place: FastAPI caches this very dict
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
