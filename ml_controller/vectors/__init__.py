"""Qdrant storage: transcript chunks for search by meaning, and voiceprints for naming speakers."""

from ml_controller.vectors.chunks import Chunk, ChunkParams, meeting_chunks
from ml_controller.vectors.models import IndexStats, SearchHit, SearchQuery
from ml_controller.vectors.settings import VectorSettings
from ml_controller.vectors.store import VectorStore

__all__ = [
    "Chunk",
    "ChunkParams",
    "IndexStats",
    "SearchHit",
    "SearchQuery",
    "VectorSettings",
    "VectorStore",
    "meeting_chunks",
]
