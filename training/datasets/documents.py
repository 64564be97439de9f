"""Text sources (txt, jsonl, QMSum, `*.ref.txt` transcripts) → documents → one token stream."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from training.errors import TrainingError
from training.jsonl import iter_jsonl

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


SourceFormat = Literal["text", "jsonl", "qmsum", "transcript"]


class TextSource(BaseModel):
    """Documents from a file or a folder of files.

    `text`: a whole file is one document; `jsonl`: one document per line, from `text_field`;
    `qmsum`: one document per QMSum meeting (`Speaker: utterance` lines, {tags} removed);
    `transcript`: a `*.ref.txt` style file (`[start-end] (id) Speaker [ru]: words`) as one
    document of `Speaker: words` lines.
    """

    model_config = ConfigDict(extra="forbid")

    path: Path
    format: SourceFormat = "text"
    # Which files of a folder to read.
    glob: str = "*"
    text_field: str = "text"
    max_documents: int | None = Field(default=None, ge=1)


# QMSum marks non-speech as {disfmarker}, {vocalsound}, {gap} and the like.
_QMSUM_TAG = re.compile(r"\{[^}]*\}")
_SPACES = re.compile(r"\s+")
# `[   0.60-   4.76] (ru_t0) C [ru]: words` → speaker `C`, text `words`.
_TRANSCRIPT_LINE = re.compile(
    r"^\s*\[[^\]]*\]\s*(?:\([^)]*\)\s*)?(?P<speaker>[^\[:]+?)\s*(?:\[[\w-]+\])?\s*:\s*(?P<text>.*)$"
)
# Documents tokenized per call: big enough for the fast tokenizer's threads, small enough to
# stop close to `max_tokens`.
_ENCODE_BATCH = 64


class DataError(TrainingError, ValueError):
    """A source is missing, empty or not in the format its config says."""


@dataclass(frozen=True)
class Document:
    # Where it came from (file, and line or meeting id), for error messages and reports.
    origin: str
    text: str


@dataclass(frozen=True)
class TokenStream:
    """Documents' tokens back to back: [BOS] doc [SEP] [BOS] doc [SEP] …"""

    ids: np.ndarray  # int32, one dimension
    # Offset of each document's first token in `ids`.
    doc_starts: np.ndarray  # int64
    # Documents left out because `max_tokens` was reached.
    documents_dropped: int

    @property
    def tokens(self) -> int:
        return int(self.ids.shape[0])

    @property
    def documents(self) -> int:
        return int(self.doc_starts.shape[0])


def _clean(text: str) -> str:
    return _SPACES.sub(" ", _QMSUM_TAG.sub(" ", text)).strip()


def _files(source: TextSource) -> list[Path]:
    path = source.path.expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.glob(source.glob) if p.is_file())
        if not files:
            raise DataError(f"{path}: no file matches {source.glob!r} (check train_sources.glob)")
        return files
    raise DataError(f"{path}: no such file or folder (check the source path in the config)")


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, object]]]:
    return iter_jsonl(path, DataError)


def _qmsum_meeting(path: Path, number: int, row: dict[str, object]) -> Document:
    turns = row.get("meeting_transcripts")
    if not isinstance(turns, list):
        raise DataError(f"{path}:{number}: no meeting_transcripts list (is this QMSum?)")
    lines = []
    for turn in turns:
        text = _clean(str(turn.get("content", "")))
        if text:
            lines.append(f"{turn.get('speaker', '?')}: {text}")
    return Document(f"{path}#{row.get('id', number)}", "\n".join(lines))


def _transcript(path: Path) -> Document:
    lines = []
    for line in _read_text(path).splitlines():
        match = _TRANSCRIPT_LINE.match(line)
        if match is None:
            if line.strip():
                raise DataError(
                    f"{path}: line {line[:60]!r} is not `[start-end] (id) Speaker [lang]: text` "
                    "(use format: text for plain files)"
                )
            continue
        lines.append(f"{match['speaker'].strip()}: {match['text'].strip()}")
    return Document(str(path), "\n".join(lines))


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason}); narrow the source's glob") from exc


def _read_file(path: Path, source: TextSource) -> Iterator[Document]:
    if source.format == "text":
        yield Document(str(path), _read_text(path))
    elif source.format == "transcript":
        yield _transcript(path)
    elif source.format == "qmsum":
        for number, row in _jsonl_rows(path):
            yield _qmsum_meeting(path, number, row)
    else:
        for number, row in _jsonl_rows(path):
            if source.text_field not in row:
                raise DataError(f"{path}:{number}: no field {source.text_field!r} (text_field)")
            yield Document(f"{path}:{number}", str(row[source.text_field]))


def read_documents(sources: Sequence[TextSource]) -> list[Document]:
    """Every non-empty document of every source, in order."""
    documents: list[Document] = []
    for source in sources:
        found = 0
        for path in _files(source):
            for document in _read_file(path, source):
                if not document.text.strip():
                    continue
                documents.append(document)
                found += 1
                if source.max_documents is not None and found >= source.max_documents:
                    break
            if source.max_documents is not None and found >= source.max_documents:
                break
        if found == 0:
            raise DataError(f"{source.path}: no non-empty document in format {source.format!r}")
    return documents


def split_held_out(
    documents: Sequence[Document], fraction: float, seed: int
) -> tuple[list[Document], list[Document]]:
    """(train, held out): a seeded random `fraction` of the documents, at least one of each."""
    if fraction <= 0.0:
        return list(documents), []
    if len(documents) < 2:
        raise DataError(
            "holding out text for perplexity needs at least 2 documents; "
            "add eval_sources or set eval_fraction: 0"
        )
    order = list(range(len(documents)))
    random.Random(seed).shuffle(order)
    held = min(len(documents) - 1, max(1, round(fraction * len(documents))))
    held_set = set(order[:held])
    train = [d for i, d in enumerate(documents) if i not in held_set]
    return train, [d for i, d in enumerate(documents) if i in held_set]


@dataclass(frozen=True)
class DocumentEncoder:
    """How one document becomes token ids: the tokenizer's BOS (if it uses one), text, separator."""

    tokenizer: PreTrainedTokenizerBase
    bos_id: int | None
    separator_id: int

    @classmethod
    def for_tokenizer(
        cls, tokenizer: PreTrainedTokenizerBase, separator_token: str | None = None
    ) -> DocumentEncoder:
        if separator_token is None:
            separator_id = tokenizer.eos_token_id
            if separator_id is None:
                raise DataError("the tokenizer has no EOS token: set separator_token in the config")
        else:
            separator_id = tokenizer.convert_tokens_to_ids(separator_token)
            if separator_id is None or separator_id == tokenizer.unk_token_id:
                raise DataError(f"separator_token {separator_token!r} is not in the vocabulary")
        # Models trained with a BOS (Gemma, Llama) degrade without it; Qwen has none.
        probe = tokenizer("a", add_special_tokens=True)["input_ids"]
        bos = tokenizer.bos_token_id
        bos_id = bos if bos is not None and probe and probe[0] == bos else None
        return cls(tokenizer, bos_id, int(separator_id))

    def encode_many(self, texts: Sequence[str]) -> list[list[int]]:
        encoded = self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        head = [] if self.bos_id is None else [self.bos_id]
        return [[*head, *ids, self.separator_id] for ids in encoded]


def token_stream(
    documents: Sequence[Document],
    encoder: DocumentEncoder,
    max_tokens: int | None = None,
    *,
    progress: bool = True,
) -> TokenStream:
    """The documents' tokens back to back, cut at `max_tokens` when given."""
    pieces: list[np.ndarray] = []
    starts: list[int] = []
    total = 0
    used = 0
    bar = tqdm(total=len(documents), desc="tokenizing", unit="doc", disable=not progress)
    with bar:
        for begin in range(0, len(documents), _ENCODE_BATCH):
            batch = documents[begin : begin + _ENCODE_BATCH]
            for ids in encoder.encode_many([d.text for d in batch]):
                if max_tokens is not None and total >= max_tokens:
                    break
                starts.append(total)
                pieces.append(np.asarray(ids, dtype=np.int32))
                total += len(ids)
                used += 1
            bar.update(len(batch))
            if max_tokens is not None and total >= max_tokens:
                break
    stream = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int32)
    if max_tokens is not None:
        stream = stream[:max_tokens]
    return TokenStream(stream, np.asarray(starts, dtype=np.int64), len(documents) - used)
