"""The local storage's signed download URLs (the stand-in for S3 presigned GETs)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import FileResponse

from services.api.deps import ContextDep
from services.api.errors import SIGNED_FILE_ERRORS, http_errors
from services.api.schemas import ErrorOut
from services.api.storage.local import FILES_ROUTE, LocalStorage

router = APIRouter(prefix=FILES_ROUTE, tags=["internal"])


@router.get(
    "/{key:path}",
    summary="Download a recording through a signed, expiring URL (workers use this)",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The recording.",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        },
        403: {"model": ErrorOut, "description": "The signature is wrong or the URL expired."},
        404: {"model": ErrorOut, "description": "The recording no longer exists."},
    },
)
async def download(
    key: str,
    ctx: ContextDep,
    expires: Annotated[int, Query()],
    signature: Annotated[str, Query()],
) -> FileResponse:
    storage = ctx.storage
    if not isinstance(storage, LocalStorage):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not found.")
    if not storage.signer.verify(key, expires, signature):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "This link is invalid or has expired.")
    async with http_errors(SIGNED_FILE_ERRORS):
        path = storage.path_for(key)
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "This recording no longer exists.")
    return FileResponse(path, media_type="application/octet-stream")
