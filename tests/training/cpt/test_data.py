"""Text sources → documents → token stream, on the real meeting data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from training.datasets.documents import (
    DataError,
    Document,
    DocumentEncoder,
    TextSource,
    read_documents,
    split_held_out,
    token_stream,
)


def test_transcript_format_keeps_speakers_and_words_drops_times(ru_transcript: Path) -> None:
    (doc,) = read_documents([TextSource(path=ru_transcript, format="transcript")])
    lines = doc.text.splitlines()
    raw = [line for line in ru_transcript.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(lines) == len(raw)
    assert lines[0] == "C: Ах, да не размазывайте, мамочка! Говорите сразу! Ну?"
    assert not any("[ru]" in line or line.startswith("[") for line in lines)


def test_qmsum_format_one_document_per_meeting_without_tags(data_dir: Path) -> None:
    path = data_dir / "summarization" / "qmsum_val.jsonl"
    docs = read_documents([TextSource(path=path, format="qmsum", max_documents=3)])
    assert len(docs) == 3
    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert docs[0].origin.endswith(f"#{first['id']}")
    assert "{disfmarker}" in path.read_text(encoding="utf-8")[:200000]
    assert all("{" not in d.text for d in docs)
    assert docs[0].text.splitlines()[0].startswith(first["meeting_transcripts"][0]["speaker"])


def test_jsonl_field_and_folder_glob(data_dir: Path, tmp_path: Path) -> None:
    refs = data_dir / "audio" / "asr_ru"
    docs = read_documents([TextSource(path=refs, glob="*.jsonl", format="jsonl")])
    assert [d.text for d in docs][:2] == [
        "шестьдесят тысяч тенге сколько будет стоить",
        "нейронные сети это хорошо",
    ]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"body": "x"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.jsonl:1: no field 'text'"):
        read_documents([TextSource(path=bad, format="jsonl")])
    with pytest.raises(DataError, match="no such file or folder"):
        read_documents([TextSource(path=tmp_path / "missing.txt")])


def test_held_out_split_is_seeded_and_disjoint() -> None:
    docs = [Document(str(i), f"text {i}") for i in range(20)]
    train, held = split_held_out(docs, 0.2, seed=3)
    again_train, again_held = split_held_out(docs, 0.2, seed=3)
    assert (train, held) == (again_train, again_held)
    assert len(held) == 4 and len(train) == 16
    assert {d.origin for d in train}.isdisjoint({d.origin for d in held})
    with pytest.raises(DataError, match="at least 2 documents"):
        split_held_out(docs[:1], 0.2, seed=0)


def test_stream_is_bos_text_eos_per_document(tiny_lm: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm, local_files_only=True)
    encoder = DocumentEncoder.for_tokenizer(tokenizer)
    assert encoder.bos_id == tokenizer.bos_token_id
    assert encoder.separator_id == tokenizer.eos_token_id
    docs = [Document("a", "Иван Васильевич пришёл."), Document("b", "The remote control.")]
    stream = token_stream(docs, encoder, progress=False)
    ids = stream.ids.tolist()
    assert stream.doc_starts.tolist() == [0, ids.index(tokenizer.eos_token_id) + 1]
    second = stream.doc_starts[1]
    assert ids[0] == ids[second] == tokenizer.bos_token_id
    assert ids[second - 1] == ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(ids[1 : second - 1]) == "Иван Васильевич пришёл."

    capped = token_stream(docs, encoder, max_tokens=5, progress=False)
    assert capped.tokens == 5 and capped.documents == 1 and capped.documents_dropped == 1
