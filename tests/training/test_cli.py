"""`minuta-train` as a user runs it: a stage from its shipped config, a report, clear errors."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from training.cli import EVALS, STAGES, app

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def in_repo(data_dir: Path) -> Iterator[Path]:
    # The shipped configs name ../shared/data relative to the repository root.
    if data_dir.resolve() != (REPO.parent / "shared" / "data").resolve():
        pytest.skip("the shipped configs expect ../shared/data beside the repository")
    before = Path.cwd()
    os.chdir(REPO)
    yield REPO
    os.chdir(before)


def test_tokenizer_stage_from_its_shipped_config(in_repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "tok"
    result = CliRunner().invoke(
        app,
        [
            "tokenizer",
            "-c",
            "training/configs/tokenizer_ru.yaml",
            "--set",
            f"output_dir={out}",
            "--set",
            "vocab_size=4000",
            "--set",
            "extend_model=false",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["stage"] == "tokenizer"
    assert report["config"] == "training/configs/tokenizer_ru.yaml"
    assert report["seconds"] > 0
    metrics = report["metrics"]
    assert metrics["ru_chars_per_token_merged"] > metrics["ru_chars_per_token_base"]
    assert metrics["en_chars_per_token_merged"] >= metrics["en_chars_per_token_base"]
    assert (out / "report.md").read_text().startswith("# tokenizer")
    assert (out / "tokenizer" / "tokenizer.json").is_file()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["cpt", "-c", "no/such.yaml"], "no such config file"),
        (["sft", "-c", "training/configs/sft_qwen05b_cpu.yaml", "--set", "oops"], "key=value"),
    ],
)
def test_bad_invocations_exit_2_with_a_message(in_repo: Path, args: list[str], needle: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert needle in result.output


def test_every_stage_and_eval_names_a_real_config_class_and_function() -> None:
    import importlib

    for stage in [*STAGES.values(), *EVALS.values()]:
        module = importlib.import_module(stage.module)
        assert callable(getattr(module, stage.run)), stage
        assert hasattr(getattr(module, stage.config_class), "model_validate"), stage
