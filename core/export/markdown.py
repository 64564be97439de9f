"""Readable minutes followed by the transcript."""

from __future__ import annotations

from core.export.subtitles import speaker_names
from core.export.timefmt import clock
from core.results import MeetingResult

_LABELS = {
    "en": {
        "minutes": "Minutes",
        "summary": "Summary",
        "topics": "Topics",
        "decisions": "Decisions",
        "actions": "Action items",
        "transcript": "Transcript",
        "speakers": "Speakers",
        "duration": "Duration",
        "language": "Language",
        "due": "due",
        "none": "None recorded.",
    },
    "ru": {
        "minutes": "Протокол",
        "summary": "Краткое содержание",
        "topics": "Темы",
        "decisions": "Решения",
        "actions": "Задачи",
        "transcript": "Стенограмма",
        "speakers": "Участники",
        "duration": "Длительность",
        "language": "Язык",
        "due": "срок",
        "none": "Нет.",
    },
}


def to_markdown(result: MeetingResult) -> str:
    minutes = result.minutes
    t = _LABELS.get(minutes.language, _LABELS["en"])
    names = speaker_names(result)

    def who(label: str) -> str:
        return names.get(label, label)

    title = minutes.title or result.audio.source or t["minutes"]
    out = [f"# {title}", ""]
    out.append(
        f"{t['duration']}: {clock(result.audio.duration)} · {t['language']}: "
        f"{result.audio.language} · {t['speakers']}: "
        + (", ".join(who(s.id) for s in result.speakers) or "—")
    )
    out += ["", f"## {t['summary']}", "", minutes.summary or t["none"], ""]
    out += [f"## {t['topics']}", ""]
    if result.topics:
        for topic in result.topics:
            line = f"- **{clock(topic.start)}–{clock(topic.end)}** {topic.title}".rstrip()
            out.append(line + (f": {topic.summary}" if topic.summary else ""))
    else:
        out.append(t["none"])
    out += ["", f"## {t['decisions']}", ""]
    out += [f"- {d}" for d in minutes.decisions] or [t["none"]]
    out += ["", f"## {t['actions']}", ""]
    if minutes.action_items:
        for item in minutes.action_items:
            due = f" ({t['due']}: {item.due})" if item.due else ""
            out.append(
                f"- [ ] **{who(item.owner)}**: {item.task}{due} [{clock(item.evidence.start)}]"
            )
    else:
        out.append(t["none"])
    out += ["", f"## {t['transcript']}", ""]
    for seg in result.segments:
        out.append(f"**[{clock(seg.start)}] {who(seg.speaker)}:** {seg.text}  ")
    return "\n".join(out).rstrip() + "\n"
