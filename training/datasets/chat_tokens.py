"""Chat examples → token ids with the prompt masked, so the loss is on the answer only.

The prompt is rendered by the same function the transformers engine uses at inference
(`render_prompt`: the tokenizer's chat template with the generation prompt), so the adapter is
trained on exactly the tokens it will later see. The answer ends with the tokenizer's EOS token
(`<|im_end|>` for Qwen instruct) so the model learns to stop after the JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ml_controller.llm.transformers_engine import render_prompt
from training.datasets.chat import ChatExample

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

IGNORE_INDEX = -100  # what torch's cross-entropy skips


@dataclass(frozen=True)
class TokenizedExample:
    input_ids: list[int]
    labels: list[int]  # IGNORE_INDEX over the prompt, the token ids over the answer

    @property
    def prompt_tokens(self) -> int:
        return sum(1 for label in self.labels if label == IGNORE_INDEX)

    @property
    def target_tokens(self) -> int:
        return len(self.labels) - self.prompt_tokens


def tokenize_example(tokenizer: PreTrainedTokenizerBase, example: ChatExample) -> TokenizedExample:
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError(
            f"tokenizer {tokenizer.name_or_path!r} has no EOS token: the model could not learn "
            "where an answer ends; set eos_token in its tokenizer_config.json"
        )
    prompt = render_prompt(tokenizer, example.messages)
    answer = [*tokenizer.encode(example.target, add_special_tokens=False), int(eos)]
    return TokenizedExample([*prompt, *answer], [IGNORE_INDEX] * len(prompt) + answer)


def tokenize_examples(
    tokenizer: PreTrainedTokenizerBase, examples: list[ChatExample], max_tokens: int
) -> tuple[list[ChatExample], list[TokenizedExample]]:
    """The examples that fit `max_tokens` whole, and their tokens; longer ones are dropped.

    Dropped rather than cut: a cut transcript no longer matches its reference summary, and a
    cut answer would teach the model to stop mid-JSON.
    """
    kept: list[ChatExample] = []
    tokens: list[TokenizedExample] = []
    for example in examples:
        tokenized = tokenize_example(tokenizer, example)
        if len(tokenized.input_ids) <= max_tokens:
            kept.append(example)
            tokens.append(tokenized)
    return kept, tokens


def collate(batch: list[TokenizedExample], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded tensors; padding is masked in attention and loss."""
    import torch

    width = max(len(item.input_ids) for item in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, item in enumerate(batch):
        size = len(item.input_ids)
        ids[row, :size] = torch.tensor(item.input_ids)
        labels[row, :size] = torch.tensor(item.labels)
        mask[row, :size] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}
