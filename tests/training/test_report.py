"""The one report format: JSON for tools, Markdown for people, both from the same fields."""

from __future__ import annotations

from pathlib import Path

from training.report import StageReport, read_report, render_markdown, write_report


def test_report_round_trips_and_renders_every_field(tmp_path: Path) -> None:
    report = StageReport(
        stage="sft",
        config="training/configs/sft_qwen05b_cpu.yaml",
        seconds=12.5,
        metrics={"rougeL": 0.2134, "schema_valid": 9, "bertscore_f1": None},
        timings={"step_seconds": 3.25, "tokens_per_second": 412.0},
        artifacts={"adapter": "/tmp/adapter"},
        notes=["base model had no adapter"],
    )
    path = write_report(report, tmp_path / "out")
    assert read_report(path) == report
    text = (tmp_path / "out" / "report.md").read_text()
    assert text == render_markdown(report)
    for needle in (
        "| rougeL | 0.2134 |",
        "| schema_valid | 9 |",
        "| bertscore_f1 | — |",
        "| tokens_per_second | 412 |",
        "adapter: `/tmp/adapter`",
        "base model had no adapter",
        "sft_qwen05b_cpu.yaml",
    ):
        assert needle in text
