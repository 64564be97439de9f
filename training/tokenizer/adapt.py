"""Stage `tokenizer`: train a Russian tokenizer, merge it into the base, measure, extend the model.

Output directory: `tokenizer/` (merged tokenizer), `new_tokenizer/` (the Russian one alone, for
the record) and, with `extend_model`, `model/` (the base checkpoint with grown embeddings and the
merged tokenizer) that continual pretraining starts from.
"""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import BaseModel, Field, model_validator
from tokenizers import Tokenizer

from training.base_models import PACKAGED, resolve_base_model
from training.report import StageReport
from training.tokenizer.checkpoint import Dtype, extend_checkpoint, save_tokenizer
from training.tokenizer.corpus import CorpusSource, iter_corpus, source_files
from training.tokenizer.measure import chars_per_token_table, round_trip_failures, tokens_used
from training.tokenizer.merge import merge_tokenizers
from training.tokenizer.train import train_like


class TokenizerConfig(BaseModel):
    # A packaged model name (converted on first use) or a transformers checkpoint directory.
    base_model: str = "qwen2.5-coder-0.5b-instruct"
    output_dir: Path
    train: list[CorpusSource] = Field(min_length=1)
    # Held-apart evaluation text; never one of the training files.
    eval_ru: list[CorpusSource] = Field(min_length=1)
    eval_en: list[CorpusSource] = Field(min_length=1)
    # Size of the new tokenizer alone (the 256 byte symbols included).
    vocab_size: int = Field(default=32_000, gt=256)
    min_frequency: int = Field(default=2, ge=1)
    extend_model: bool = True
    dtype: Dtype = "float32"
    show_progress: bool = True

    @model_validator(mode="after")
    def _held_apart(self) -> TokenizerConfig:
        leaked = source_files(self.train) & source_files([*self.eval_ru, *self.eval_en])
        if leaked:
            names = ", ".join(sorted(str(path) for path in leaked))
            raise ValueError(f"evaluation files also used for training: {names}")
        return self


def base_checkpoint(base_model: str) -> Path:
    """The checkpoint directory of `base_model` (a packaged name or a path)."""
    path = resolve_base_model(base_model)
    if not (path / "tokenizer.json").is_file():
        raise FileNotFoundError(
            f"{path}: no tokenizer.json; base_model must be a transformers checkpoint directory "
            f"with a fast tokenizer or one of {', '.join(PACKAGED)}"
        )
    return path


def _texts(sources: list[CorpusSource], what: str) -> list[str]:
    texts = list(iter_corpus(sources))
    if not texts:
        raise ValueError(f"{what}: the configured sources gave no text")
    return texts


def run_tokenizer(config: TokenizerConfig) -> StageReport:
    started = time.perf_counter()
    report = StageReport(stage="tokenizer")
    base_dir = base_checkpoint(config.base_model)
    base = Tokenizer.from_file(str(base_dir / "tokenizer.json"))
    eval_ru, eval_en = _texts(config.eval_ru, "eval_ru"), _texts(config.eval_en, "eval_en")

    clock = time.perf_counter()
    new = train_like(
        base,
        iter_corpus(config.train),
        vocab_size=config.vocab_size,
        min_frequency=config.min_frequency,
        show_progress=config.show_progress,
    )
    report.timings["train_seconds"] = time.perf_counter() - clock

    clock = time.perf_counter()
    merged = merge_tokenizers(base, new, show_progress=config.show_progress)
    report.timings["merge_seconds"] = time.perf_counter() - clock

    out = config.output_dir
    tokenizer_dir = save_tokenizer(merged.tokenizer, base_dir, out / "tokenizer")
    new_dir = out / "new_tokenizer"
    new_dir.mkdir(parents=True, exist_ok=True)
    new.save(str(new_dir / "tokenizer.json"))
    report.artifacts |= {"tokenizer": str(tokenizer_dir), "new_tokenizer": str(new_dir)}

    clock = time.perf_counter()
    metrics = report.metrics
    ratios = chars_per_token_table(
        {"base": base, "new": new, "merged": merged.tokenizer}, {"ru": eval_ru, "en": eval_en}
    )
    metrics |= {"ru_chars": sum(map(len, eval_ru)), "en_chars": sum(map(len, eval_en))}
    metrics |= {name: round(value, 4) for name, value in ratios.items()}
    metrics |= {
        "base_vocab_size": base.get_vocab_size(with_added_tokens=True),
        "new_tokenizer_vocab_size": new.get_vocab_size(),
        "merged_vocab_size": merged.tokenizer.get_vocab_size(with_added_tokens=True),
        "added_tokens": len(merged.added_tokens),
        "added_merges": merged.added_merges,
        "skipped_duplicates": merged.duplicates,
        "skipped_unreachable": merged.unreachable,
        "ru_added_tokens_used": tokens_used(merged.tokenizer, eval_ru, merged.first_new_id),
        "round_trip_failures": len(round_trip_failures(merged.tokenizer, eval_ru + eval_en)),
    }
    report.timings["measure_seconds"] = time.perf_counter() - clock
    if ratios["en_chars_per_token_merged"] < ratios["en_chars_per_token_base"]:
        report.notes.append("English compresses worse with the merged tokenizer: check the merge")

    if config.extend_model:
        clock = time.perf_counter()
        result = extend_checkpoint(base_dir, tokenizer_dir, out / "model", dtype=config.dtype)
        report.timings["extend_seconds"] = time.perf_counter() - clock
        metrics["embedding_rows_initialised"] = result.initialised
        metrics["old_vocab_size"] = result.old_vocab_size
        report.artifacts["model"] = str(out / "model")
        report.notes.append(
            f"train with freeze_old_rows(model, {result.old_vocab_size}): rows below it are the "
            "base's and must stay bit-identical"
        )
    report.notes.append(f"base checkpoint: {base_dir}")
    report.seconds = time.perf_counter() - started
    return report
