"""A CTranslate2 Whisper (model.bin) → a transformers Whisper checkpoint, so it can be fine-tuned.

The only Whisper weights that install here ship as CTranslate2 files. Their variables are the
transformers weights under other names, with the attention projections fused (q|k|v in the
decoder/encoder self-attention, k|v in the cross-attention) and no key bias (Whisper has none).
The binary layout is the one CTranslate2's ModelSpec writes: version, spec name, revision, then
(name, shape, dtype, bytes) per variable, then aliases.
"""

from __future__ import annotations

import re
import shutil
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

from training.asr.checkpoint import (
    generation_config,
    load_tokenizer,
    read_ct2_generation_fields,
    save_checkpoint,
)
from training.errors import TrainingError

# CTranslate2's DataType enum order.
_DTYPES = (np.float32, np.int8, np.int16, np.int32, np.float16, None)  # bfloat16 handled apart


class CT2FormatError(TrainingError, ValueError):
    """model.bin is not a CTranslate2 Whisper this reader understands."""


def _read(handle: BinaryIO, fmt: str) -> int:
    size = struct.calcsize(fmt)
    value: int = struct.unpack(fmt, handle.read(size))[0]
    return value


def _string(handle: BinaryIO) -> str:
    length = _read(handle, "H")
    return handle.read(length)[:-1].decode("utf-8")


def _array(raw: bytes, dtype_id: int, shape: list[int]) -> np.ndarray:
    if dtype_id == 5:
        # bfloat16 is the top half of a float32.
        halves = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
        return halves.view(np.float32).reshape(shape)
    dtype = _DTYPES[dtype_id]
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def read_ct2_variables(model_bin: Path) -> dict[str, np.ndarray]:
    """All variables of a CTranslate2 model file, int8 weights dequantized to float32."""
    variables: dict[str, np.ndarray] = {}
    with model_bin.open("rb") as handle:
        version = _read(handle, "I")
        if version < 5:
            raise CT2FormatError(f"{model_bin}: binary version {version} is too old to read")
        spec = _string(handle)
        if spec != "WhisperSpec":
            raise CT2FormatError(f"{model_bin}: a {spec}, not a WhisperSpec")
        _read(handle, "I")  # spec revision
        for _ in range(_read(handle, "I")):
            name = _string(handle)
            shape = [_read(handle, "I") for _ in range(_read(handle, "B"))]
            dtype_id = _read(handle, "B")
            raw = handle.read(_read(handle, "I"))
            variables[name] = _array(raw, dtype_id, shape)
        for _ in range(_read(handle, "I")):
            alias, target = _string(handle), _string(handle)
            variables[alias] = variables[target]
    for name in [n for n in variables if n.endswith("weight_scale")]:
        weight = name.removesuffix("_scale")
        scale = variables.pop(name).astype(np.float32)
        variables[weight] = variables[weight].astype(np.float32) / scale.reshape(
            -1, 1, *[1] * (variables[weight].ndim - 2)
        )
    return variables


def _layers(variables: dict[str, np.ndarray], side: str) -> int:
    found = {int(m.group(1)) for n in variables if (m := re.match(rf"{side}/layer_(\d+)/", n))}
    return len(found)


def whisper_config(variables: dict[str, np.ndarray]) -> WhisperConfig:
    conv1 = variables["encoder/conv1/weight"]
    d_model, n_mels = int(conv1.shape[0]), int(conv1.shape[1])
    vocab = int(variables["decoder/embeddings/weight"].shape[0])
    return WhisperConfig(
        vocab_size=vocab,
        num_mel_bins=n_mels,
        d_model=d_model,
        encoder_layers=_layers(variables, "encoder"),
        decoder_layers=_layers(variables, "decoder"),
        encoder_attention_heads=int(variables["encoder/num_heads"]),
        decoder_attention_heads=int(variables["decoder/num_heads"]),
        encoder_ffn_dim=int(variables["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
        decoder_ffn_dim=int(variables["decoder/layer_0/ffn/linear_0/weight"].shape[0]),
        max_source_positions=int(variables["encoder/position_encodings/encodings"].shape[0]),
        max_target_positions=int(variables["decoder/position_encodings/encodings"].shape[0]),
        decoder_start_token_id=50258,
        pad_token_id=50257,
        bos_token_id=50257,
        eos_token_id=50257,
    )


def _linear(state: dict[str, np.ndarray], hf: str, ct2: str, v: dict[str, np.ndarray]) -> None:
    state[f"{hf}.weight"] = v[f"{ct2}/weight"]
    if f"{ct2}/bias" in v:
        state[f"{hf}.bias"] = v[f"{ct2}/bias"]


def _norm(state: dict[str, np.ndarray], hf: str, ct2: str, v: dict[str, np.ndarray]) -> None:
    state[f"{hf}.weight"] = v[f"{ct2}/gamma"]
    state[f"{hf}.bias"] = v[f"{ct2}/beta"]


def _split(
    state: dict[str, np.ndarray],
    hf: str,
    names: tuple[str, ...],
    ct2: str,
    v: dict[str, np.ndarray],
) -> None:
    """A fused projection → one HF projection per name; k_proj has no bias in Whisper."""
    weights = np.split(v[f"{ct2}/weight"], len(names), axis=0)
    biases = np.split(v[f"{ct2}/bias"], len(names), axis=0)
    for name, weight, bias in zip(names, weights, biases, strict=True):
        state[f"{hf}.{name}.weight"] = weight
        if name != "k_proj":
            state[f"{hf}.{name}.bias"] = bias


def _layer(state: dict[str, np.ndarray], hf: str, ct2: str, v: dict[str, np.ndarray]) -> None:
    """Self-attention and feed-forward, the part encoder and decoder layers share."""
    _split(
        state,
        f"{hf}.self_attn",
        ("q_proj", "k_proj", "v_proj"),
        f"{ct2}/self_attention/linear_0",
        v,
    )
    _linear(state, f"{hf}.self_attn.out_proj", f"{ct2}/self_attention/linear_1", v)
    _norm(state, f"{hf}.self_attn_layer_norm", f"{ct2}/self_attention/layer_norm", v)
    _linear(state, f"{hf}.fc1", f"{ct2}/ffn/linear_0", v)
    _linear(state, f"{hf}.fc2", f"{ct2}/ffn/linear_1", v)
    _norm(state, f"{hf}.final_layer_norm", f"{ct2}/ffn/layer_norm", v)


def hf_state_dict(v: dict[str, np.ndarray], config: WhisperConfig) -> dict[str, torch.Tensor]:
    state: dict[str, np.ndarray] = {}
    enc, dec = "model.encoder", "model.decoder"
    _linear(state, f"{enc}.conv1", "encoder/conv1", v)
    _linear(state, f"{enc}.conv2", "encoder/conv2", v)
    state[f"{enc}.embed_positions.weight"] = v["encoder/position_encodings/encodings"]
    _norm(state, f"{enc}.layer_norm", "encoder/layer_norm", v)
    for i in range(config.encoder_layers):
        _layer(state, f"{enc}.layers.{i}", f"encoder/layer_{i}", v)
    state[f"{dec}.embed_tokens.weight"] = v["decoder/embeddings/weight"]
    state[f"{dec}.embed_positions.weight"] = v["decoder/position_encodings/encodings"]
    _norm(state, f"{dec}.layer_norm", "decoder/layer_norm", v)
    for i in range(config.decoder_layers):
        hf, ct2 = f"{dec}.layers.{i}", f"decoder/layer_{i}"
        _layer(state, hf, ct2, v)
        _linear(state, f"{hf}.encoder_attn.q_proj", f"{ct2}/attention/linear_0", v)
        _split(state, f"{hf}.encoder_attn", ("k_proj", "v_proj"), f"{ct2}/attention/linear_1", v)
        _linear(state, f"{hf}.encoder_attn.out_proj", f"{ct2}/attention/linear_2", v)
        _norm(state, f"{hf}.encoder_attn_layer_norm", f"{ct2}/attention/layer_norm", v)
    return {k: torch.from_numpy(np.array(a, dtype=np.float32)) for k, a in state.items()}


def ct2_to_hf(ct2_dir: Path, out_dir: Path) -> Path:
    """Writes a float32 transformers Whisper (with tokenizer and preprocessor) to `out_dir`."""
    model_bin = ct2_dir / "model.bin"
    if not model_bin.is_file() or not (ct2_dir / "tokenizer.json").is_file():
        raise FileNotFoundError(
            f"{ct2_dir}: a CTranslate2 Whisper needs model.bin and tokenizer.json here"
        )
    variables = read_ct2_variables(model_bin)
    config = whisper_config(variables)
    model = WhisperForConditionalGeneration(config)
    missing, unexpected = model.load_state_dict(hf_state_dict(variables, config), strict=False)
    # proj_out is tied to the token embeddings, as in CTranslate2's alias.
    if unexpected or set(missing) - {"proj_out.weight"}:
        raise CT2FormatError(
            f"{model_bin}: weights do not map onto Whisper (missing {missing}, "
            f"unexpected {unexpected})"
        )
    model.tie_weights()
    tokenizer = load_tokenizer(ct2_dir)
    model.generation_config = generation_config(
        tokenizer, config, **read_ct2_generation_fields(ct2_dir)
    )
    save_checkpoint(
        model, tokenizer, WhisperFeatureExtractor(feature_size=config.num_mel_bins), out_dir
    )
    shutil.copyfile(ct2_dir / "tokenizer.json", out_dir / "tokenizer.json")
    return out_dir
