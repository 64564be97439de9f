"""`minuta-train`: the model-adaptation stages, each run from a YAML config in training/configs/.

Every stage writes its artifacts and a report (report.json + report.md, one format for all) into
the config's `output_dir`. The same configs describe the CPU proofs here and the GPU runs: change
the model paths, precision and DeepSpeed file, not the code.
"""

from __future__ import annotations

import importlib
import os
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from core.settings import set_offline_env
from training.config_io import load_config, parse_override
from training.errors import TrainingError
from training.report import StageReport, now, render_markdown, write_report

# Offline by construction: nothing here may reach a model hub.
set_offline_env()

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Model adaptation: tokenizer, CPT, LoRA SFT, ASR data and fine-tune, evaluation. "
    "Each stage runs from a YAML config (training/configs/) and writes report.json + report.md.",
)
err = Console(stderr=True, soft_wrap=True)


@dataclass(frozen=True)
class Stage:
    """Where a stage's config model and run function live (imported only when it runs)."""

    module: str
    config_class: str
    run: str


STAGES: dict[str, Stage] = {
    "tokenizer": Stage("training.tokenizer.adapt", "TokenizerConfig", "run_tokenizer"),
    "cpt": Stage("training.cpt.run", "CPTConfig", "run_cpt"),
    "sft": Stage("training.sft.run", "SFTConfig", "run_sft"),
    "asr-data": Stage("training.asr.run", "ASRDataConfig", "run_asr_data"),
    "asr-train": Stage("training.asr.run", "ASRTrainConfig", "run_asr_train"),
}


class EvalKind(StrEnum):
    minutes = "minutes"
    asr = "asr"
    cpt = "cpt"


EVALS: dict[EvalKind, Stage] = {
    EvalKind.minutes: Stage("training.eval.minutes", "MinutesEvalConfig", "run_minutes_eval"),
    EvalKind.asr: Stage("training.eval.asr", "ASREvalConfig", "run_asr_eval"),
    EvalKind.cpt: Stage("training.eval.perplexity", "PerplexityEvalConfig", "run_perplexity_eval"),
}


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def run_stage(stage: Stage, config_path: Path, overrides: list[str]) -> tuple[StageReport, Path]:
    """Loads the config, runs the stage, writes its report; returns it and where it went."""
    module = importlib.import_module(stage.module)
    config_model = getattr(module, stage.config_class)
    config: Any = load_config(config_path, config_model, dict(map(parse_override, overrides)))
    started, began = now(), time.perf_counter()
    report: StageReport = getattr(module, stage.run)(config)
    # The CLI's clock, so every stage's report means the same by these fields.
    report.config = str(config_path)
    report.started = started
    report.seconds = report.seconds or round(time.perf_counter() - began, 1)
    out_dir = Path(config.output_dir)
    if int(os.environ.get("RANK", "0")) != 0:
        # Under `accelerate launch` every GPU process runs the stage; one report is enough.
        return report, out_dir / "report.json"
    return report, write_report(report, out_dir)


ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="Stage config (YAML), see training/configs/")
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config value: key=value, dotted for nested keys"),
]


def _run(stage: Stage, config: Path, overrides: list[str] | None) -> None:
    try:
        report, path = run_stage(stage, config, overrides or [])
    except TrainingError as exc:
        raise _fail(str(exc)) from None
    except FileNotFoundError as exc:
        raise _fail(f"{exc} (check the paths in {config})") from None
    err.print(render_markdown(report), highlight=False)
    err.print(f"wrote {path}")


def _command(name: str, stage: Stage, help_text: str) -> None:
    def command(config: ConfigOption, set_: SetOption = None) -> None:
        _run(stage, config, set_)

    command.__doc__ = help_text
    app.command(name)(command)


_command(
    "tokenizer", STAGES["tokenizer"], "Train a Russian tokenizer, merge it, extend embeddings."
)
_command("cpt", STAGES["cpt"], "Continual pretraining on packed text, with the loss-spike guard.")
_command("sft", STAGES["sft"], "LoRA fine-tuning on the minutes tasks (QMSum), adapter for vLLM.")
_command("asr-data", STAGES["asr-data"], "Pseudo-label recordings, flag words, write a manifest.")
_command("asr-train", STAGES["asr-train"], "Fine-tune Whisper on a manifest, convert for CT2.")


@app.command("eval")
def evaluate(
    kind: Annotated[EvalKind, typer.Option(help="minutes: ROUGE/BERTScore, asr: WER, cpt: ppl")],
    config: ConfigOption,
    set_: SetOption = None,
) -> None:
    """Evaluate a model: one report format for minutes, ASR and CPT."""
    _run(EVALS[kind], config, set_)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
