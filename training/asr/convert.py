"""A fine-tuned transformers Whisper → a CTranslate2 directory that faster-whisper loads.

faster-whisper reads `tokenizer.json` and `preprocessor_config.json` from the model directory
(without them it would try to fetch a tokenizer from a model hub), so both are copied in.
"""

from __future__ import annotations

from pathlib import Path

from ctranslate2.converters import TransformersConverter

NEEDED_FILES = ("config.json", "tokenizer.json", "preprocessor_config.json")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def convert_to_ct2(hf_dir: Path, out_dir: Path, quantization: str | None = "int8") -> Path:
    """Writes model.bin, config.json, vocabulary, tokenizer.json, preprocessor_config.json."""
    missing = [name for name in NEEDED_FILES if not (hf_dir / name).is_file()]
    if not any((hf_dir / name).is_file() for name in WEIGHT_FILES):
        missing.append("model.safetensors")
    if missing:
        raise FileNotFoundError(
            f"{hf_dir}: not a complete transformers Whisper checkpoint, missing "
            f"{', '.join(missing)}; save it with training.asr.checkpoint.save_checkpoint"
        )
    converter = TransformersConverter(
        str(hf_dir), copy_files=["tokenizer.json", "preprocessor_config.json"]
    )
    converter.convert(str(out_dir), quantization=quantization, force=True)
    return out_dir
