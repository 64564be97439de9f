"""One report format for every training stage: what ran, how long, what it measured, what it wrote.

Each stage writes `report.json` (for tools and the next stage) and `report.md` (for a person)
into its output directory, so a GPU run and a CPU run are compared line by line.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class StageReport(BaseModel):
    stage: str
    # The config file the stage ran with, when it came from one.
    config: str | None = None
    started: str = Field(default_factory=now)
    seconds: float = 0.0
    metrics: dict[str, float | int | None] = Field(default_factory=dict)
    # Speed: step_seconds, tokens_per_second and the like.
    timings: dict[str, float] = Field(default_factory=dict)
    # What the stage wrote: name → path.
    artifacts: dict[str, str] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)


def _value(value: float | int | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render_markdown(report: StageReport) -> str:
    lines = [f"# {report.stage}", ""]
    if report.config:
        lines.append(f"Config: `{report.config}`  ")
    lines += [f"Started {report.started}, took {report.seconds:.1f} s.", ""]
    for title, table in (("Metrics", report.metrics), ("Timings", report.timings)):
        if table:
            lines += [f"## {title}", "", "| name | value |", "|---|---|"]
            lines += [f"| {name} | {_value(value)} |" for name, value in table.items()]
            lines.append("")
    if report.artifacts:
        lines += ["## Artifacts", ""]
        lines += [f"- {name}: `{path}`" for name, path in report.artifacts.items()]
        lines.append("")
    if report.notes:
        lines += ["## Notes", ""]
        lines += [f"- {note}" for note in report.notes]
        lines.append("")
    return "\n".join(lines)


def write_report(report: StageReport, out_dir: Path) -> Path:
    """Writes report.json and report.md into `out_dir`; returns the JSON's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "report.json"
    path.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    (out_dir / "report.md").write_text(render_markdown(report), encoding="utf-8")
    return path


def read_report(path: Path) -> StageReport:
    return StageReport.model_validate(json.loads(path.read_text(encoding="utf-8")))
