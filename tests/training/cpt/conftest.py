"""Real text from ../shared/data and a tiny Llama trained-tokenizer checkpoint built from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.cpt.tiny_model import build_tiny_lm
from training.datasets.documents import TextSource, read_documents


@pytest.fixture(scope="session")
def ru_transcript(data_dir: Path) -> Path:
    return data_dir / "synthetic_meetings" / "synth_ru_meeting" / "synth_ru_meeting.ref.txt"


@pytest.fixture(scope="session")
def cpt_sources(data_dir: Path, ru_transcript: Path) -> list[TextSource]:
    """Russian meeting text plus two English QMSum meetings (≈ 90k tiny-tokenizer tokens)."""
    return [
        TextSource(path=ru_transcript, format="transcript"),
        TextSource(
            path=data_dir / "summarization" / "qmsum_val.jsonl", format="qmsum", max_documents=2
        ),
    ]


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory, cpt_sources: list[TextSource]) -> Path:
    texts = [d.text for d in read_documents(cpt_sources)]
    return build_tiny_lm(tmp_path_factory.mktemp("tiny_lm"), texts)
