"""Where voiceprints and search chunks live: a Qdrant server by URL, or embedded in process."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from core.settings import CacheSettings, Section


class VectorSettings(Section):
    """`MINUTA_QDRANT_*`: a URL selects the server; else an embedded store on disk or in memory."""

    # The process's cache section (shared with the ML section); read afresh when not given.
    cache: CacheSettings = Field(default_factory=CacheSettings)
    qdrant_url: str | None = None
    qdrant_api_key: str | None = None
    qdrant_timeout: float = 30.0
    # Embedded on-disk folder; unset means <cache_dir>/qdrant.
    qdrant_path: Path | None = None
    # Embedded and gone at exit (tests, one-off runs); ignored when a URL is set.
    qdrant_in_memory: bool = False
    # The embedded engine: "edge" is Qdrant's own engine in process (HNSW, payload indexes);
    # "local" is qdrant-client's local mode (brute force in numpy, for small stores or debugging).
    qdrant_embedded_engine: Literal["edge", "local"] = "edge"
    qdrant_collection_prefix: str = "minuta_"

    @property
    def resolved_path(self) -> Path:
        return self.qdrant_path if self.qdrant_path is not None else self.cache.cache_dir / "qdrant"

    @property
    def mode(self) -> Literal["server", "memory", "edge", "local"]:
        if self.qdrant_url:
            return "server"
        if self.qdrant_in_memory:
            return "memory"
        return self.qdrant_embedded_engine
