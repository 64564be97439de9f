"""Quality metrics shared by tests and benchmarks, computed with the standard libraries."""

from __future__ import annotations

import re
import unicodedata

import jiwer

_PUNCT = re.compile(r"[^\w\s']", re.UNICODE)


def normalize_text(text: str) -> str:
    """Lower case, no punctuation, ё→е, single spaces: the usual WER normalisation."""
    text = unicodedata.normalize("NFKC", text).lower().replace("ё", "е")
    text = _PUNCT.sub(" ", text.replace("-", " "))
    return " ".join(text.split())


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    refs = [normalize_text(r) for r in references]
    hyps = [normalize_text(h) for h in hypotheses]
    return float(jiwer.wer(refs, hyps))
