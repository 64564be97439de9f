"""Small base models to train here: the packaged GGUF files as transformers checkpoints.

Training needs full-precision weights in transformers' format; the only small models that install
offline are quantized GGUF files inside pip packages (../shared/MODELS.md). transformers
dequantizes GGUF on load, but marks such a model as not serializable, so it is rebuilt from its
config and state dict and saved once per cache. A 7B run points its config at a real checkpoint
directory instead and never comes here.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, cast

from ml_controller.models.registry import GEMMA_270M_GGUF, QWEN_0_5B_GGUF, PackagedModel, assemble

PackagedName = Literal["qwen2.5-coder-0.5b-instruct", "gemma-3-270m"]
PACKAGED: dict[str, PackagedModel] = {
    "qwen2.5-coder-0.5b-instruct": QWEN_0_5B_GGUF,
    "gemma-3-270m": GEMMA_270M_GGUF,
}
STAMP = "converted.json"


def _default_cache() -> Path:
    from ml_controller.settings import MLSettings

    return MLSettings().cache_dir


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    # Tests and stages may ask for the same checkpoint at once; one converts, the others wait.
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def convert_gguf(gguf_file: Path, out_dir: Path) -> Path:
    """Writes a float32 transformers checkpoint (weights + tokenizer) of `gguf_file`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = gguf_file.parent, gguf_file.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
    loaded = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=name, local_files_only=True, dtype=torch.float32
    )
    config = loaded.config
    # Left in, it makes every later load "GGUF-quantized" and so impossible to save again.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    # Tied output weights are absent from the GGUF state dict by design; anything else is a bug.
    missing = [key for key in missing if key != "lm_head.weight"]
    if missing or unexpected:
        raise RuntimeError(
            f"{gguf_file}: converted weights do not match the architecture "
            f"(missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    del loaded
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}-"))
    try:
        model.save_pretrained(work, safe_serialization=True)
        tokenizer.save_pretrained(work)
        (work / STAMP).write_text(json.dumps({"source": str(gguf_file)}) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(work, out_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return out_dir


def packaged_checkpoint(name: PackagedName, cache_dir: Path | None = None) -> Path:
    """A transformers checkpoint directory of a packaged model, converted on first use."""
    if name not in PACKAGED:
        raise ValueError(f"unknown packaged model {name!r}; known: {', '.join(PACKAGED)}")
    cache = (cache_dir or _default_cache()).expanduser()
    out_dir = cache / "checkpoints" / name
    if (out_dir / STAMP).is_file():
        return out_dir
    with _locked(cache / "checkpoints" / f".{name}.lock"):
        if (out_dir / STAMP).is_file():
            return out_dir
        gguf_dir = assemble(PACKAGED[name], cache)
        return convert_gguf(gguf_dir / PACKAGED[name].chunked.target, out_dir)


def resolve_base_model(name: str, cache_dir: Path | None = None) -> Path:
    """A checkpoint directory: a packaged model by name (converted on first use) or a path."""
    if name in PACKAGED:
        return packaged_checkpoint(cast(PackagedName, name), cache_dir)
    path = Path(name).expanduser()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"base model {name!r} is neither a packaged model ({', '.join(PACKAGED)}) nor a "
            "directory with config.json; point it at a transformers checkpoint"
        )
    return path


def load_causal_lm(
    model_dir: Path,
    *,
    dtype: str = "float32",
    attention: str | None = None,
) -> Any:
    """The checkpoint's causal LM as a plain float model to train or score, never from a hub.

    A checkpoint converted from GGUF by other tools may still name GGUF in its config although
    it holds float weights; transformers would then refuse to save the trained model.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir}: no config.json (not a transformers checkpoint)")
    config = AutoConfig.from_pretrained(model_dir, local_files_only=True)
    quantization = getattr(config, "quantization_config", None)
    if isinstance(quantization, dict) and quantization.get("quant_method") == "gguf":
        del config.quantization_config
    kwargs: dict[str, Any] = {"config": config, "local_files_only": True}
    if attention is not None:
        kwargs["attn_implementation"] = attention
    return AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype), **kwargs)
