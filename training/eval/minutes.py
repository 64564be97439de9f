"""Minutes evaluation of a base model with and without its LoRA adapter, on QMSum val.

Each example is the product's "summary" task on one query's transcript span (the same examples
as training, built from the val file, which training never reads). Both variants decode greedily
and unconstrained, so the schema-valid rate measures what the model learned rather than what a
grammar forced:

* schema-valid: the whole answer parses as JSON and validates against the draft schema the
  product asks for (`draft_schema(spec, TASK_FIELDS["summary"])`) and `MinutesDraft`;
  "fenced" also accepts the JSON inside a ```json fence.
* ROUGE-1 / ROUGE-L F1 (rouge-score, Porter stemmer) and BERTScore F1 (bert-score on a local
  model: by default the e5 sentence-transformers directory the product builds, layer 9, no
  baseline rescaling, as in benchmarks/minutes_quality.py) of the answer's "summary" field
  against the reference answer; an answer that is not a JSON object is scored as plain text.

Base and adapter share one loaded model: peft's `disable_adapter()` gives the base's outputs.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from ml_controller.minutes.ask import check
from ml_controller.minutes.schema import TASK_FIELDS, DraftSpec, MinutesDraft, draft_schema
from training.datasets.chat import TASK, ChatExample, load_examples, round_robin
from training.report import StageReport, now

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

# bert-score's own choice for 12-layer BERT-base is layer 9; the same depth for e5-small.
BERTSCORE_LAYER = 9
_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n?(.*?)\n?```$", re.DOTALL)


class MinutesEvalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    eval_file: str = "summarization/qmsum_val.jsonl"  # under data_dir
    examples: int = Field(default=12, ge=1)  # taken one meeting at a time
    # The same selection rule as training: prompt + reference answer fit max_tokens.
    max_tokens: int = Field(default=768, ge=32)
    min_words: int = Field(default=60, ge=0)
    max_new_tokens: int = Field(default=256, ge=1)
    bertscore: bool = True
    # A local BERT-style directory; None: the product's e5 sentence-transformers directory.
    bertscore_model: Path | None = None
    bertscore_layer: int = Field(default=BERTSCORE_LAYER, ge=1)


class MinutesEvalConfig(BaseModel):
    """`minuta-train eval-minutes`: one base model, optionally with an adapter."""

    model_config = ConfigDict(extra="forbid")

    base_model: str = "qwen2.5-coder-0.5b-instruct"  # packaged name or checkpoint directory
    adapter_dir: Path | None = None
    data_dir: Path = Path("../shared/data")
    output_dir: Path = Path("runs/eval-minutes")
    threads: int | None = Field(default=2, ge=1)
    evaluation: MinutesEvalSettings = Field(default_factory=MinutesEvalSettings)


@dataclass
class Generation:
    text: str
    tokens: int
    seconds: float


@dataclass
class MinutesEvaluation:
    metrics: dict[str, float | int | None] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    answers_path: Path | None = None


def unfenced(answer: str) -> str:
    """The answer without a surrounding markdown code fence."""
    text = answer.strip()
    match = _FENCE.match(text)
    return match.group(1).strip() if match else text


def schema_valid(answer: str, spec: DraftSpec) -> bool:
    """Whether the whole answer is the JSON the product asks for in the summary task."""
    value, _ = check(answer.strip(), draft_schema(spec, TASK_FIELDS[TASK]), MinutesDraft)
    return value is not None


def summary_text(answer: str) -> str:
    """The answer's "summary" field when it is a JSON object with one, else the answer itself."""
    text = unfenced(answer)
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return text
    if isinstance(data, dict) and isinstance(data.get("summary"), str):
        return str(data["summary"]).strip()
    return text


class TextScorer:
    """ROUGE, and BERTScore when a model is given."""

    def __init__(self, bert_model: Path | None, layer: int = BERTSCORE_LAYER) -> None:
        from rouge_score import rouge_scorer

        self.rouge = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)
        self.bert: Any = None
        if bert_model is not None:
            from bert_score import BERTScorer

            self.bert = BERTScorer(
                model_type=str(bert_model),
                num_layers=layer,
                use_fast_tokenizer=True,  # the e5 directory has tokenizer.json only
                device="cpu",
            )

    def scores(self, candidates: list[str], references: list[str]) -> list[dict[str, float]]:
        out = []
        for candidate, reference in zip(candidates, references, strict=True):
            rouge = self.rouge.score(reference, candidate)
            out.append({"rouge1": rouge["rouge1"].fmeasure, "rougeL": rouge["rougeL"].fmeasure})
        if self.bert is not None:
            # bert-score cannot embed an empty candidate; an empty answer scores 0.
            filled = [i for i, c in enumerate(candidates) if c.strip()]
            f1 = [0.0] * len(candidates)
            if filled:
                _, _, scores = self.bert.score(
                    [candidates[i] for i in filled], [references[i] for i in filled]
                )
                for i, value in zip(filled, scores.tolist(), strict=True):
                    f1[i] = float(value)
            for row, value in zip(out, f1, strict=True):
                row["bertscore_f1"] = value
        return out


def default_bertscore_model() -> Path:
    """The e5 sentence-transformers directory the product builds (once) from the packaged e5."""
    from ml_controller.settings import MLSettings
    from ml_controller.text_embedding import default_model_dir

    return default_model_dir(MLSettings())


def select_eval_examples(
    tokenizer: PreTrainedTokenizerBase, data_dir: Path, settings: MinutesEvalSettings
) -> list[ChatExample]:
    """Up to `settings.examples` val examples that fit `max_tokens`, one meeting at a time."""
    from training.datasets.chat_tokens import tokenize_examples

    examples = load_examples(data_dir / settings.eval_file, min_words=settings.min_words)
    fitting, _ = tokenize_examples(tokenizer, examples, settings.max_tokens)
    if not fitting:
        raise ValueError(
            f"no example of {data_dir / settings.eval_file} fits max_tokens="
            f"{settings.max_tokens}; raise evaluation.max_tokens"
        )
    return round_robin(fitting, settings.examples)


def generate(
    model: Any, tokenizer: PreTrainedTokenizerBase, example: ChatExample, max_new_tokens: int
) -> Generation:
    """Greedy, unconstrained: the model's own answer, stopped at EOS or max_new_tokens."""
    import torch

    from ml_controller.llm.transformers_engine import render_prompt

    prompt = torch.tensor([render_prompt(tokenizer, example.messages)])
    stops = {tokenizer.eos_token_id}
    configured = getattr(model.generation_config, "eos_token_id", None)
    stops |= set(configured) if isinstance(configured, list) else {configured}
    stop_ids = sorted(i for i in stops if i is not None)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_ids[0]
    began = time.perf_counter()
    with torch.inference_mode():
        # Every sampling knob reset: the checkpoint's generation_config (Qwen: repetition
        # penalty 1.05, top_k 20) must not bend greedy decoding.
        out = model.generate(
            input_ids=prompt,
            attention_mask=torch.ones_like(prompt),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_beams=1,
            repetition_penalty=1.0,
            temperature=None,
            top_p=None,
            top_k=None,
            eos_token_id=stop_ids,
            pad_token_id=pad,
        )
    seconds = time.perf_counter() - began
    new = out[0, prompt.shape[1] :].tolist()
    while new and new[-1] in stop_ids:
        new.pop()
    return Generation(str(tokenizer.decode(new, skip_special_tokens=True)), len(new), seconds)


def _load(base_dir: Path, adapter_dir: Path | None) -> tuple[Any, PreTrainedTokenizerBase]:
    from transformers import AutoTokenizer

    from training.base_models import load_causal_lm

    tokenizer = AutoTokenizer.from_pretrained(base_dir, local_files_only=True)
    model = load_causal_lm(base_dir)
    if adapter_dir is not None:
        from peft import PeftModel

        if not (adapter_dir / "adapter_config.json").is_file():
            raise FileNotFoundError(f"{adapter_dir}: no adapter_config.json (not a peft adapter)")
        model = PeftModel.from_pretrained(model, adapter_dir, local_files_only=True)
    return model.eval(), tokenizer


def evaluate_minutes(
    base_dir: Path,
    adapter_dir: Path | None,
    data_dir: Path,
    settings: MinutesEvalSettings,
    out_dir: Path,
) -> MinutesEvaluation:
    """Base (and base + adapter) answers on QMSum val, scored; answers go to answers.jsonl."""
    from contextlib import nullcontext

    from tqdm import tqdm

    model, tokenizer = _load(base_dir, adapter_dir)
    examples = select_eval_examples(tokenizer, data_dir, settings)
    variants = ["base"] if adapter_dir is None else ["base", "adapter"]
    answers: dict[str, list[Generation]] = {}
    for variant in variants:
        # With an adapter loaded, the base's answers come from the same model with it disabled.
        context = model.disable_adapter() if adapter_dir and variant == "base" else nullcontext()
        with context:
            answers[variant] = [
                generate(model, tokenizer, example, settings.max_new_tokens)
                for example in tqdm(examples, desc=f"generate ({variant})", unit="example")
            ]
    del model

    bert_model = None
    if settings.bertscore:
        bert_model = settings.bertscore_model or default_bertscore_model()
    scorer = TextScorer(bert_model, settings.bertscore_layer)
    references = [e.reference for e in examples]
    result = MinutesEvaluation()
    result.metrics["eval_examples"] = len(examples)
    rows: list[dict[str, Any]] = [
        {"meeting_id": e.meeting_id, "query": e.query, "reference": e.reference} for e in examples
    ]
    for variant in variants:
        generations = answers[variant]
        texts = [g.text for g in generations]
        valid = [schema_valid(t, e.spec) for t, e in zip(texts, examples, strict=True)]
        fenced = [schema_valid(unfenced(t), e.spec) for t, e in zip(texts, examples, strict=True)]
        scores = scorer.scores([summary_text(t) for t in texts], references)
        n = len(examples)
        metrics = result.metrics
        metrics[f"{variant}_schema_valid_rate"] = sum(valid) / n
        metrics[f"{variant}_schema_valid_fenced_rate"] = sum(fenced) / n
        for key in scores[0]:
            metrics[f"{variant}_{key}"] = sum(s[key] for s in scores) / n
        if not settings.bertscore:
            metrics[f"{variant}_bertscore_f1"] = None
        metrics[f"{variant}_answer_tokens"] = sum(g.tokens for g in generations) / n
        seconds = sum(g.seconds for g in generations)
        result.timings[f"{variant}_seconds_per_example"] = seconds / n
        result.timings[f"{variant}_generated_tokens_per_second"] = (
            sum(g.tokens for g in generations) / seconds if seconds > 0 else 0.0
        )
        for row, generation, ok, score in zip(rows, generations, valid, scores, strict=True):
            row[variant] = {"answer": generation.text, "schema_valid": ok, **score}

    out_dir.mkdir(parents=True, exist_ok=True)
    result.answers_path = out_dir / "answers.jsonl"
    with result.answers_path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return result


def run_minutes_eval(config: MinutesEvalConfig, config_path: str | None = None) -> StageReport:
    from training.base_models import resolve_base_model
    from training.report import write_report

    started, began = now(), time.perf_counter()
    if config.threads:
        import torch

        torch.set_num_threads(config.threads)
    base_dir = resolve_base_model(config.base_model)
    evaluation = evaluate_minutes(
        base_dir, config.adapter_dir, config.data_dir, config.evaluation, config.output_dir
    )
    report = StageReport(
        stage="eval-minutes",
        config=config_path,
        started=started,
        seconds=round(time.perf_counter() - began, 1),
        metrics=evaluation.metrics,
        timings=evaluation.timings,
        artifacts={"answers": str(evaluation.answers_path)},
        notes=[
            f"base {base_dir}" + (f", adapter {config.adapter_dir}" if config.adapter_dir else ""),
            "greedy unconstrained decoding; ROUGE/BERTScore on the answer's summary field",
        ],
    )
    write_report(report, config.output_dir)
    return report
