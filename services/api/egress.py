"""The egress policy's refusals as API answers."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, status

from services.egress import EgressPolicy, EgressRefused, Target


def message_or_field_errors(description: str) -> dict[int | str, dict[str, Any]]:
    """An OpenAPI 422 that is either a message (ErrorOut) or FastAPI's list of field errors."""
    either = {
        "anyOf": [
            {"$ref": "#/components/schemas/ErrorOut"},
            {"$ref": "#/components/schemas/HTTPValidationError"},
        ]
    }
    return {422: {"description": description, "content": {"application/json": {"schema": either}}}}


def refusal_response(what: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI 422 of a route that takes a URL: a refusal (a message) or FastAPI's list of
    field errors."""
    return message_or_field_errors(
        f"{what} leads to an address the server does not reach (loopback, private, link-local, "
        "...) or carries credentials (a message); or the body is invalid (FastAPI's list of "
        "field errors)."
    )


async def refuse_unreachable(policy: EgressPolicy, url: str, what: str) -> Target:
    """The checked target; a 422 with the policy's message when the URL is refused."""
    try:
        return await policy.check_async(url, what)
    except EgressRefused as refused:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"Refused: {refused.message}."
        ) from refused
