"""transformers + peft in process: a base model and an optional LoRA adapter from local directories.

Made for evaluating the adapters that `training/` produces, before they are served: the base
model directory holds a transformers checkpoint (config, weights, tokenizer), the adapter
directory is what peft's `save_pretrained` writes (`adapter_config.json` +
`adapter_model.safetensors`). That adapter directory is the same format vLLM serves with
`--lora-modules name=path`, so the adapter evaluated here is the one deployed.

Nothing is fetched from a hub (`local_files_only=True`). Decoding is greedy, so an evaluation is
reproducible, and constrained by `json_grammar`, so the answer always parses as JSON matching the
schema and always fits `max_tokens` (as the llama.cpp engine's grammar guarantees).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml_controller.llm.base import ChatMessage, EngineUsage, Lazy, LLMError
from ml_controller.llm.json_grammar import (
    SchemaNotSupportedError,
    TokenConstraint,
    compile_schema,
    feed,
    initial_state,
    is_complete,
    shortest_completion,
)
from ml_controller.settings import MLSettings

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass
class LoadedModel:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    constraint: TokenConstraint
    # Whether the adapter was merged into the base weights (faster) or runs beside them.
    adapter: Path | None
    merged: bool


def _byte_level_decoder() -> dict[str, int]:
    """GPT-2's byte ↔ printable-character table, inverted: how byte-level BPE spells bytes."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    chars = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


def _decoder_types(tokenizer: PreTrainedTokenizerBase) -> set[str]:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise LLMError("the transformers engine needs a fast tokenizer (tokenizer.json)")
    decoder = json.loads(backend.to_str()).get("decoder") or {}
    found = {decoder.get("type", "")}
    found |= {d.get("type", "") for d in decoder.get("decoders", [])}
    return found


def token_bytes(tokenizer: PreTrainedTokenizerBase) -> list[bytes | None]:
    """The bytes each token adds to the text; None for special and added tokens.

    Byte-level BPE (GPT-2, Llama 3, Qwen) spells bytes as printable characters; SentencePiece
    style vocabularies (Llama 2, Gemma, XLM-R) write `▁` for a space and `<0xNN>` for a raw byte.
    """
    kinds = _decoder_types(tokenizer)
    excluded = set(tokenizer.all_special_ids) | set(tokenizer.added_tokens_decoder)
    pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    out: list[bytes | None] = []
    if "ByteLevel" in kinds:
        table = _byte_level_decoder()
        for token_id, piece in enumerate(pieces):
            if token_id in excluded or piece is None or any(ch not in table for ch in piece):
                out.append(None)
            else:
                out.append(bytes(table[ch] for ch in piece))
        return out
    if kinds & {"Metaspace", "ByteFallback", "Replace"}:
        for token_id, piece in enumerate(pieces):
            if token_id in excluded or piece is None:
                out.append(None)
            elif len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
                out.append(bytes([int(piece[3:5], 16)]))
            else:
                out.append(piece.replace("▁", " ").encode("utf-8"))
        return out
    raise LLMError(f"tokenizer decoder {sorted(kinds)} is not supported for constrained decoding")


def render_prompt(tokenizer: PreTrainedTokenizerBase, messages: list[ChatMessage]) -> list[int]:
    """The prompt's token ids: the tokenizer's chat template, else `Role: text` paragraphs."""
    chat = [{"role": m.role, "content": m.content} for m in messages]
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        # The template writes the special tokens (BOS and the like) itself.
        return list(tokenizer.encode(str(text), add_special_tokens=False))
    lines = [f"{m.role.capitalize()}: {m.content}" for m in messages]
    # Only a BOS token: some post-processors would also append EOS, ending the prompt early.
    ids = list(tokenizer.encode("\n\n".join([*lines, "Assistant:"]), add_special_tokens=False))
    bos = tokenizer.bos_token_id
    return ids if bos is None else [bos, *ids]


class TransformersEngine:
    name = "transformers"

    def __init__(self, settings: MLSettings) -> None:
        self.settings = settings
        self.usage = EngineUsage()
        self._loaded: Lazy[LoadedModel] = Lazy(self._load)
        # One model on one device: parallel callers take turns.
        self._lock = threading.Lock()

    def loaded(self) -> LoadedModel:
        """The model, loaded on first use."""
        return self._loaded.get()

    def _load(self) -> LoadedModel:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        settings = self.settings
        if settings.llm_base_model_dir is None:
            raise LLMError(
                "MINUTA_LLM_BASE_MODEL_DIR is not set (the transformers engine needs it)"
            )
        base = settings.llm_base_model_dir.expanduser()
        if not (base / "config.json").is_file():
            raise LLMError(f"MINUTA_LLM_BASE_MODEL_DIR points to {base}, which has no config.json")
        adapter = settings.llm_adapter_dir.expanduser() if settings.llm_adapter_dir else None
        if adapter is not None and not (adapter / "adapter_config.json").is_file():
            raise LLMError(
                f"MINUTA_LLM_ADAPTER_DIR points to {adapter}, which has no adapter_config.json"
            )
        dtype = getattr(torch, settings.llm_dtype)
        try:
            tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
            # Any: peft wraps the model in its own class below.
            model: Any = AutoModelForCausalLM.from_pretrained(
                base, local_files_only=True, dtype=dtype
            )
        except (OSError, ValueError) as exc:
            raise LLMError(f"transformers could not load {base}: {exc}") from exc
        merged = False
        if adapter is not None:
            from peft import PeftModel

            try:
                model = PeftModel.from_pretrained(model, adapter, local_files_only=True)
            except (OSError, ValueError, KeyError) as exc:
                raise LLMError(f"peft could not load the adapter {adapter}: {exc}") from exc
            if settings.llm_merge_adapter:
                model = model.merge_and_unload()
                merged = True
        model.to(settings.llm_device).eval()
        return LoadedModel(
            model, tokenizer, TokenConstraint(token_bytes(tokenizer)), adapter, merged
        )

    def next_token_logits(self, messages: list[ChatMessage]) -> torch.Tensor:
        """Unconstrained logits of the answer's first token: to compare adapters."""
        import torch

        loaded = self.loaded()
        ids = torch.tensor(
            [render_prompt(loaded.tokenizer, messages)], device=self.settings.llm_device
        )
        with self._lock, torch.inference_mode():
            return loaded.model(input_ids=ids, logits_to_keep=1).logits[0, -1].float().cpu()

    def complete_json(
        self,
        messages: list[ChatMessage],
        schema: dict[str, Any],
        *,
        max_tokens: int,
        task: str = "minutes",
    ) -> str:
        # One adapter per engine; per-task adapters are served by vLLM (the OpenAI engine).
        del task
        try:
            node = compile_schema(schema)
        except SchemaNotSupportedError as exc:
            raise LLMError(f"the transformers engine cannot constrain this schema: {exc}") from exc
        state = initial_state(node)
        shortest = shortest_completion(state)
        if len(shortest) > max_tokens:
            raise LLMError(
                f"max_tokens={max_tokens} is too few for the schema (needs {len(shortest)})"
            )
        loaded = self.loaded()
        prompt = render_prompt(loaded.tokenizer, messages)
        with self._lock:
            began = time.perf_counter()
            text, generated = self._decode(loaded, prompt, state, max_tokens)
            elapsed = time.perf_counter() - began
        self.usage.add(len(prompt), generated, elapsed)
        return text

    def _decode(
        self, loaded: LoadedModel, prompt: list[int], state: Any, max_tokens: int
    ) -> tuple[str, int]:
        import torch

        device = self.settings.llm_device
        eos = loaded.tokenizer.eos_token_id
        answer = bytearray()
        generated = 0
        with torch.inference_mode():
            # Logits of the last position only: a long prompt times a large vocabulary is gigabytes.
            out = loaded.model(
                input_ids=torch.tensor([prompt], device=device), use_cache=True, logits_to_keep=1
            )
            while not (is_complete(state) and not state) and generated < max_tokens:
                allowed = loaded.constraint.allowed(state, max_tokens - generated)
                if is_complete(state) and eos is not None:
                    allowed.append(eos)
                if not allowed:
                    raise LLMError(f"no token continues the JSON after {bytes(answer)[-80:]!r}")
                logits = out.logits[0, -1]
                pick = torch.tensor(allowed, device=logits.device)
                token = int(pick[int(torch.argmax(logits[pick]))])
                generated += 1
                if token == eos and is_complete(state):
                    break
                piece = loaded.constraint.token_bytes[token]
                assert piece is not None
                for byte in piece:
                    moved = feed(state, byte)
                    assert moved is not None, "the constraint allowed an invalid token"
                    state = moved
                answer += piece
                if not state:
                    break
                out = loaded.model(
                    input_ids=torch.tensor([[token]], device=device),
                    past_key_values=out.past_key_values,
                    use_cache=True,
                )
        if not is_complete(state):
            raise LLMError("the answer ran out of tokens before the JSON was complete")
        return answer.decode("utf-8"), generated

    def count_tokens(self, text: str) -> int:
        return len(self.loaded().tokenizer.encode(text, add_special_tokens=False))
