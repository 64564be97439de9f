"""A meeting's result as a downloadable file: the CLI's text formats, and Word (docx)."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from docx import Document

from core.export import render
from core.export.subtitles import speaker_names
from core.export.timefmt import clock
from core.results import MeetingResult
from services.api.schemas import ExportFormat

_MEDIA_TYPES = {
    ExportFormat.md: "text/markdown; charset=utf-8",
    ExportFormat.json: "application/json",
    ExportFormat.srt: "application/x-subrip; charset=utf-8",
    ExportFormat.vtt: "text/vtt; charset=utf-8",
    ExportFormat.docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


@dataclass(frozen=True)
class ExportFile:
    content: bytes
    media_type: str
    filename: str


def safe_filename(title: str, fallback: str) -> str:
    stem = re.sub(r"[^\w\- ]+", "", title, flags=re.UNICODE).strip().replace(" ", "_")
    return stem[:80] or fallback


def export(result: MeetingResult, fmt: ExportFormat, *, title: str, fallback: str) -> ExportFile:
    if fmt is ExportFormat.docx:
        content = to_docx(result, title=title)
    else:
        content = render(result, fmt.value).encode("utf-8")
    return ExportFile(
        content=content,
        media_type=_MEDIA_TYPES[fmt],
        filename=f"{safe_filename(title, fallback)}.{fmt.value}",
    )


def to_docx(result: MeetingResult, *, title: str = "") -> bytes:
    minutes = result.minutes
    names = speaker_names(result)

    def who(label: str) -> str:
        return names.get(label, label)

    doc = Document()
    doc.add_heading(title or minutes.title or "Minutes", level=0)
    doc.add_paragraph(
        f"Duration: {clock(result.audio.duration)} · Language: {result.audio.language} · "
        f"Speakers: {', '.join(who(s.id) for s in result.speakers) or '—'}"
    )

    doc.add_heading("Summary", level=1)
    doc.add_paragraph(minutes.summary or "None recorded.")

    doc.add_heading("Topics", level=1)
    for topic in result.topics:
        item = doc.add_paragraph(style="List Bullet")
        item.add_run(f"{clock(topic.start)}–{clock(topic.end)} {topic.title}").bold = True
        if topic.summary:
            item.add_run(f": {topic.summary}")
    if not result.topics:
        doc.add_paragraph("None recorded.")

    doc.add_heading("Decisions", level=1)
    for decision in minutes.decisions:
        doc.add_paragraph(decision, style="List Bullet")
    if not minutes.decisions:
        doc.add_paragraph("None recorded.")

    doc.add_heading("Action items", level=1)
    if minutes.action_items:
        table = doc.add_table(rows=1, cols=4)
        table.style = "Table Grid"
        for cell, text in zip(table.rows[0].cells, ("Owner", "Task", "Due", "At"), strict=True):
            cell.text = text
        for action in minutes.action_items:
            row = table.add_row().cells
            row[0].text = who(action.owner)
            row[1].text = action.task
            row[2].text = action.due or ""
            row[3].text = clock(action.evidence.start)
    else:
        doc.add_paragraph("None recorded.")

    doc.add_heading("Transcript", level=1)
    for segment in result.segments:
        line = doc.add_paragraph()
        line.add_run(f"[{clock(segment.start)}] {who(segment.speaker)}: ").bold = True
        line.add_run(segment.text)

    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
