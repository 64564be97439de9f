"""The egress policy's refusals as API answers."""

from __future__ import annotations

from fastapi import HTTPException, status

from services.egress import EgressPolicy, EgressRefused, Target


async def refuse_unreachable(policy: EgressPolicy, url: str, what: str) -> Target:
    """The checked target; a 422 with the policy's message when the URL is refused."""
    try:
        return await policy.check_async(url, what)
    except EgressRefused as refused:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"Refused: {refused.message}."
        ) from refused
