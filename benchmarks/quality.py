"""All quality figures of the embedded pipeline on ../shared/data, as Markdown tables.

    python -m benchmarks.quality [asr] [diarization] [topics]

Writes benchmarks/results/quality.md (and prints it).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

Row = dict[str, object]


def markdown_table(rows: list[Row]) -> str:
    if not rows:
        return "(no rows)\n"
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(str(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def _sections() -> dict[str, tuple[str, Callable[[], list[Row]]]]:
    from benchmarks.asr_quality import wer_rows
    from benchmarks.diarization_quality import der_rows
    from benchmarks.topics_quality import topic_rows

    return {
        "asr": ("ASR word error rate (Whisper base int8, beam 5)", wer_rows),
        "diarization": ("Diarization error rate (collar 0.25 s)", der_rows),
        "topics": ("Topic segmentation (Pk, WindowDiff; lower is better)", topic_rows),
    }


def main(selected: list[str]) -> str:
    sections = _sections()
    parts = []
    for key in selected or list(sections):
        title, rows = sections[key]
        parts.append(f"### {title}\n\n{markdown_table(rows())}")
    text = "\n".join(parts)
    RESULTS.mkdir(exist_ok=True)
    name = "quality.md" if not selected else f"quality_{'_'.join(selected)}.md"
    (RESULTS / name).write_text(text)
    return text


if __name__ == "__main__":
    print(main(sys.argv[1:]))
