"""Serves the web UI at /app/: the page shell, its static files and the few settings it needs.

The UI is a single page with hash routes (#/meetings, #/meetings/<id>, #/search), so the server
only ever serves one HTML document; everything else is the REST API under /v1.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from services.api.context import ApiContext
from services.api.sniff import SUPPORTED_DESCRIPTION

STATIC_DIR = Path(__file__).resolve().parent / "static"
APP_PATH = "/app"

# The shell must never be stale after an upgrade; the modules it loads revalidate by ETag.
_NO_CACHE = {"Cache-Control": "no-cache"}
# Extensions the file picker offers first; the server still judges the content, not the name.
ACCEPTED_EXTENSIONS = [
    ".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".webm", ".mp4",
    ".mkv", ".mov",
]  # fmt: skip


class WebConfigOut(BaseModel):
    max_upload_bytes: int = Field(description="Larger files are refused before uploading.")
    accepted_extensions: list[str]
    supported: str = Field(description="The formats the API reads, for people.")


router = APIRouter(include_in_schema=False)


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse(f"{APP_PATH}/", status_code=307)


@router.get(APP_PATH)
async def app_no_slash() -> RedirectResponse:
    return RedirectResponse(f"{APP_PATH}/", status_code=307)


@router.get(f"{APP_PATH}/")
async def shell() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=_NO_CACHE)


@router.get(f"{APP_PATH}/config.json")
async def config(request: Request) -> WebConfigOut:
    ctx: ApiContext = request.app.state.ctx
    return WebConfigOut(
        max_upload_bytes=ctx.settings.max_upload_bytes,
        accepted_extensions=ACCEPTED_EXTENSIONS,
        supported=SUPPORTED_DESCRIPTION,
    )


def install_web(app: FastAPI) -> None:
    """Add the UI's routes and static files to the API app."""
    app.include_router(router)
    app.mount(f"{APP_PATH}/static", StaticFiles(directory=STATIC_DIR), name="web-static")
