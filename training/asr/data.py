"""Manifest rows → Whisper training examples: log-mel features in, token ids out.

The decoder is fed `<|startoftranscript|><|lang|><|task|><|notimestamps|> text` and learns to
predict the text and `<|endoftext|>`; the forced prefix and padding are masked with -100 so the
loss is on the words alone, which is what faster-whisper asks of the model at inference.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm
from transformers import WhisperFeatureExtractor, WhisperTokenizer

from ml_controller.audio.constants import SAMPLE_RATE
from ml_controller.audio.decode import decode_audio
from training.asr.manifest import ManifestRow

IGNORE_INDEX = -100


@dataclass
class Example:
    features: np.ndarray  # (n_mels, 3000)
    tokens: list[int]  # the full decoder sequence, prefix to <|endoftext|>
    prefix_length: int


@dataclass
class WhisperBatch:
    input_features: torch.Tensor
    decoder_input_ids: torch.Tensor
    labels: torch.Tensor

    @property
    def label_tokens(self) -> int:
        return int((self.labels != IGNORE_INDEX).sum())

    def to(self, device: torch.device, dtype: torch.dtype) -> WhisperBatch:
        return WhisperBatch(
            self.input_features.to(device, dtype),
            self.decoder_input_ids.to(device),
            self.labels.to(device),
        )


def special_id(tokenizer: WhisperTokenizer, token: str) -> int:
    found = tokenizer.convert_tokens_to_ids(token)
    # Whisper's unknown token is <|endoftext|>, so a miss is told by the round trip.
    if not isinstance(found, int) or tokenizer.convert_ids_to_tokens(found) != token:
        raise ValueError(
            f"the Whisper tokenizer has no {token} token; is it a multilingual Whisper "
            "tokenizer.json, and is the language a Whisper language code?"
        )
    return found


def label_tokens(
    tokenizer: WhisperTokenizer, text: str, language: str, task: str, max_tokens: int
) -> tuple[list[int], int]:
    """The decoder sequence for `text` and how many leading tokens are the forced prefix."""
    prefix = [
        special_id(tokenizer, "<|startoftranscript|>"),
        special_id(tokenizer, f"<|{language}|>"),
        special_id(tokenizer, f"<|{task}|>"),
        special_id(tokenizer, "<|notimestamps|>"),
    ]
    # Whisper writes a space before the first word; training without it shifts every token.
    body = tokenizer.encode(" " + text.strip(), add_special_tokens=False)
    body = body[: max_tokens - len(prefix) - 1]
    return [*prefix, *body, special_id(tokenizer, "<|endoftext|>")], len(prefix)


def _resolve(audio: str, base_dir: Path) -> Path:
    path = Path(audio).expanduser()
    return path if path.is_absolute() else base_dir / path


def cache_clips(rows: list[ManifestRow], base_dir: Path, cache_dir: Path) -> list[Path]:
    """Each row's clip as 16-bit samples in `cache_dir`, decoding every recording once.

    Training visits clips in random order; decoding a whole meeting for each 30-s clip would
    cost more than the training step. Existing clip files are kept, so a rerun starts at once.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    targets: list[Path] = []
    by_audio: dict[Path, list[int]] = {}
    for index, row in enumerate(rows):
        source = _resolve(row.audio, base_dir)
        key = hashlib.sha1(f"{source.resolve()}|{row.start:.3f}|{row.end:.3f}".encode()).hexdigest()
        targets.append(cache_dir / f"{key[:20]}.npy")
        by_audio.setdefault(source, []).append(index)
    for source, indices in tqdm(by_audio.items(), desc="cutting clips", unit="file"):
        todo = [i for i in indices if not targets[i].is_file()]
        if not todo:
            continue
        with decode_audio(source) as audio:
            for i in todo:
                samples = audio.block(rows[i].start, rows[i].end)
                if len(samples) == 0:
                    raise ValueError(
                        f"{source} [{rows[i].start}, {rows[i].end}] s: the clip holds no audio; "
                        "fix its times in the manifest or drop the row"
                    )
                pcm = np.clip(samples * 32768.0, -32768, 32767).astype(np.int16)
                np.save(targets[i], pcm)
    return targets


class ManifestDataset(Dataset[Example]):
    def __init__(
        self,
        rows: list[ManifestRow],
        base_dir: Path,
        feature_extractor: WhisperFeatureExtractor,
        tokenizer: WhisperTokenizer,
        task: str = "transcribe",
        language: str | None = None,
        max_label_tokens: int = 440,
        cache_dir: Path | None = None,
    ) -> None:
        if not rows:
            raise ValueError("the manifest has no rows to train on (all flagged or empty?)")
        self.rows = rows
        self.clips = cache_clips(rows, base_dir, cache_dir or base_dir / "clips")
        self.features = feature_extractor
        self.tokenizer = tokenizer
        self.task = task
        self.language = language
        self.max_label_tokens = max_label_tokens

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Example:
        row = self.rows[index]
        samples = np.load(self.clips[index]).astype(np.float32) / 32768.0
        features = self.features(
            samples, sampling_rate=SAMPLE_RATE, return_tensors="np"
        ).input_features[0]
        tokens, prefix = label_tokens(
            self.tokenizer,
            row.text,
            self.language or row.language,
            self.task,
            self.max_label_tokens,
        )
        return Example(features=features, tokens=tokens, prefix_length=prefix)


def collate(examples: list[Example], pad_id: int) -> WhisperBatch:
    longest = max(len(e.tokens) for e in examples) - 1
    inputs = torch.full((len(examples), longest), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), longest), IGNORE_INDEX, dtype=torch.long)
    for i, e in enumerate(examples):
        seq = torch.tensor(e.tokens, dtype=torch.long)
        inputs[i, : len(seq) - 1] = seq[:-1]
        labels[i, : len(seq) - 1] = seq[1:]
        # Position p predicts token p+1: the forced prefix tokens after <|startoftranscript|>.
        labels[i, : e.prefix_length - 1] = IGNORE_INDEX
    features = torch.from_numpy(np.stack([e.features for e in examples]))
    return WhisperBatch(input_features=features, decoder_input_ids=inputs, labels=labels)
