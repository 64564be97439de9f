from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from transformers import WhisperTokenizer

from training.asr.checkpoint import load_feature_extractor, load_tokenizer
from training.asr.data import IGNORE_INDEX, ManifestDataset, cache_clips, collate, label_tokens
from training.asr.manifest import ManifestRow


@pytest.fixture(scope="module")
def tokenizer(whisper_base_dir: Path) -> WhisperTokenizer:
    return load_tokenizer(whisper_base_dir)


def test_label_tokens_carry_language_task_and_end(tokenizer: WhisperTokenizer) -> None:
    tokens, prefix = label_tokens(tokenizer, "Привет, ИТМО", "ru", "transcribe", 440)
    ids = tokenizer.convert_tokens_to_ids
    assert prefix == 4
    assert tokens[:4] == [
        ids("<|startoftranscript|>"),
        ids("<|ru|>"),
        ids("<|transcribe|>"),
        ids("<|notimestamps|>"),
    ]
    assert tokens[-1] == ids("<|endoftext|>")
    assert tokenizer.decode(tokens[4:-1]) == " Привет, ИТМО"
    short, _ = label_tokens(tokenizer, "word " * 100, "en", "transcribe", 16)
    assert len(short) == 16 and short[-1] == ids("<|endoftext|>")


def test_unknown_language_token_is_a_clear_error(tokenizer: WhisperTokenizer) -> None:
    with pytest.raises(ValueError, match=r"<\|xx\|>"):
        label_tokens(tokenizer, "text", "xx", "transcribe", 440)


def test_collate_masks_prefix_and_padding(
    tokenizer: WhisperTokenizer, whisper_base_dir: Path, data_dir: Path, tmp_path: Path
) -> None:
    audio = data_dir / "audio" / "asr_en"
    rows = [
        ManifestRow(
            audio="jfk.flac", start=0.1, end=10.4, text="And so my fellow Americans", language="en"
        ),
        ManifestRow(
            audio=str(audio / "LDC93S1.wav"), start=0.0, end=2.7, text="She had", language="en"
        ),
    ]
    dataset = ManifestDataset(
        rows, audio, load_feature_extractor(whisper_base_dir), tokenizer, cache_dir=tmp_path
    )
    examples = [dataset[0], dataset[1]]
    # Clips are cut once into 16-bit files; a relative audio path is read from the base folder.
    assert len(list(tmp_path.glob("*.npy"))) == 2
    assert np.load(dataset.clips[1]).shape == (int(2.7 * 16_000),)
    assert examples[0].features.shape == (80, 3000)
    batch = collate(examples, pad_id=tokenizer.pad_token_id)
    assert batch.input_features.shape == (2, 80, 3000)
    longest = len(examples[0].tokens) - 1
    assert batch.decoder_input_ids.shape == batch.labels.shape == (2, longest)
    sot = tokenizer.convert_tokens_to_ids("<|startoftranscript|>")
    assert batch.decoder_input_ids[:, 0].tolist() == [sot, sot]
    # Positions 0-2 predict <|en|>, <|transcribe|>, <|notimestamps|>: forced, so not learned.
    assert (batch.labels[:, :3] == IGNORE_INDEX).all()
    assert batch.labels[0, 3].item() == examples[0].tokens[4]
    short = len(examples[1].tokens) - 1
    assert (batch.labels[1, short:] == IGNORE_INDEX).all()
    assert batch.labels[1, short - 1].item() == tokenizer.convert_tokens_to_ids("<|endoftext|>")
    assert batch.label_tokens == (len(examples[0].tokens) - 4) + (len(examples[1].tokens) - 4)


def test_a_clip_outside_the_recording_is_named(data_dir: Path, tmp_path: Path) -> None:
    row = ManifestRow(audio="jfk.flac", start=50.0, end=55.0, text="x", language="en")
    with pytest.raises(ValueError, match=r"jfk\.flac \[50\.0, 55\.0\] s"):
        cache_clips([row], data_dir / "audio" / "asr_en", tmp_path)
