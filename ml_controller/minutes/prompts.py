"""What the LLM is told: the map prompt (`chunk_messages`, for the whole meeting and for one part
alike) and the reduce prompt (`reduce_messages`).

Russian meetings get Russian instructions: a small model follows the language of its
instructions far more reliably than an instruction to switch language. JSON keys stay English in
every language, since they are the schema.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml_controller.llm.base import ChatMessage
from ml_controller.minutes.transcript import Chunk, Line, render, stamp

LANGUAGE_NAMES = {
    "en": "English", "ru": "Russian", "uk": "Ukrainian", "be": "Belarusian", "kk": "Kazakh",
    "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "pt": "Portuguese",
    "nl": "Dutch", "pl": "Polish", "cs": "Czech", "sv": "Swedish", "fi": "Finnish",
    "tr": "Turkish", "ar": "Arabic", "hi": "Hindi", "zh": "Chinese", "ja": "Japanese",
    "ko": "Korean",
}  # fmt: skip


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code.lower(), f"the language with code {code!r}")


@dataclass(frozen=True)
class Part:
    """Where a chunk sits in a meeting summarized in parts."""

    index: int  # 1-based
    count: int


@dataclass(frozen=True)
class PartNotes:
    """What the map step learned about one part, as the reduce step reads it."""

    start: float
    end: float
    title: str
    summary: str
    decisions: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()


# Each rule is asked only when its field is (None: always). A part of a long meeting has no title
# or summary of its own, and a task of its own model (TASK_FIELDS) gets only its fields.
Rules = tuple[tuple[str | None, str], ...]

_EN_SYSTEM: Rules = (
    (
        None,
        "You are the secretary of a meeting. Read the transcript and write the minutes as one "
        "JSON object with these fields:",
    ),
    (None, '- "language": "{code}".'),
    ("title", '- "title": a short title of the meeting.'),
    ("summary", '- "summary": 2-4 sentences: what was discussed and what came out of it.'),
    ("topics", '- "topics": {topics_rule}'),
    (
        "action_items",
        '- "action_items": tasks a participant took on or was asked to do. "owner": the speaker '
        'who will do it, written exactly as in the transcript ({owners}). "task": what to do. '
        '"due": the deadline in the words of the transcript (for example "Friday") only if one '
        'was said, otherwise null; never invent a date. "evidence": "start" and "end" are the '
        "[mm:ss] marks of the first and last transcript lines where the task is mentioned. "
        "Use [] if there are none.",
    ),
    (
        "decisions",
        '- "decisions": what the group settled, one short sentence each (for example "We '
        'decide to ...", "Let us do ...", "Agreed."). A task one person takes on belongs in '
        '"action_items", not here. Proposals, opinions, questions and figures someone mentions '
        "are not decisions. Use [] if nothing was decided.",
    ),
    (None, "Write all text in {language}. Use only what is in the transcript."),
)

_EN_TOPICS_FIXED = (
    'one entry per topic section of the transcript ("# Topic 1", "# Topic 2", ...), in the '
    'same order: a short "title" naming its subject and a one-sentence "summary" of what was '
    "said in that section."
)
_EN_TOPICS_FREE = (
    'the main topics in order (1 to 8), each with "start" (the [mm:ss] mark of the line where '
    'the topic begins), a short "title" naming its subject and a one-sentence "summary".'
)

_RU_SYSTEM: Rules = (
    (
        None,
        "Ты секретарь совещания. Прочитай стенограмму и составь протокол в виде одного "
        "JSON-объекта со следующими полями:",
    ),
    (None, '- "language": "{code}".'),
    ("title", '- "title": короткое название совещания.'),
    ("summary", '- "summary": 2-4 предложения: что обсуждали и к чему пришли.'),
    ("topics", '- "topics": {topics_rule}'),
    (
        "action_items",
        '- "action_items": задачи, которые участник взял на себя или которые ему поручили. '
        '"owner": кто будет выполнять, точно как в стенограмме ({owners}). "task": что '
        'сделать. "due": срок словами из стенограммы (например, "в пятницу"), только если его '
        'назвали, иначе null; никогда не придумывай даты. "evidence": "start" и "end" — метки '
        "[мм:сс] первой и последней строк стенограммы, где упомянута задача. Если задач нет, "
        "пиши [].",
    ),
    (
        "decisions",
        '- "decisions": то, о чём участники договорились, каждое решение одним коротким '
        'предложением (например, "Решили ...", "Давайте ...", "Договорились."). Задача, которую '
        'берёт на себя один человек, относится к "action_items", а не сюда. Предложения, мнения, '
        "вопросы и названные кем-то цифры решениями не являются. "
        "Если ничего не решили, пиши [].",
    ),
    (None, "Пиши весь текст по-русски. Используй только то, что есть в стенограмме."),
)

_RU_TOPICS_FIXED = (
    'по одной записи на каждый раздел стенограммы ("# Тема 1", "# Тема 2", ...), в том же '
    'порядке: "title" — короткое название его предмета и "summary" — одно предложение о том, '
    "что говорили в этом разделе."
)
_RU_TOPICS_FREE = (
    'основные темы по порядку (от 1 до 8): "start" (метка [мм:сс] строки, с которой '
    'начинается тема), короткое "title" — название предмета и "summary" из одного предложения.'
)

_EN_REDUCE = "\n".join(
    [
        "You are the secretary of a long meeting. You get notes on its consecutive parts. "
        "Write one JSON object with these fields:",
        '- "language": "{code}".',
        '- "title": a short title of the whole meeting.',
        '- "summary": 3-6 sentences covering all parts in order: what was discussed and what '
        "was decided. Never repeat a sentence.",
        "Write all text in {language}. Use only what is in the notes.",
    ]
)

_RU_REDUCE = "\n".join(
    [
        "Ты секретарь длинного совещания. Тебе даны заметки о его последовательных частях. "
        "Составь один JSON-объект со следующими полями:",
        '- "language": "{code}".',
        '- "title": короткое название всего совещания.',
        '- "summary": 3-6 предложений обо всех частях по порядку: что обсуждали и что решили. '
        "Не повторяй предложения.",
        "Пиши весь текст по-русски. Используй только то, что есть в заметках.",
    ]
)


def _russian(language: str) -> bool:
    return language.lower() == "ru"


def minutes_messages(
    groups: list[list[Line]],
    language: str,
    owners: list[str],
    sectioned: bool,
    part: Part | None = None,
    fields: tuple[str, ...] | None = None,
) -> list[ChatMessage]:
    """Messages asking for a MinutesDraft of the lines in `groups` (only `fields` if given).

    `sectioned`: each group is a known topic segment, shown under its own heading, and the
    model writes one topic per group; otherwise the model places the topics itself.
    """
    ru = _russian(language)
    if ru:
        rule = _RU_TOPICS_FIXED if sectioned else _RU_TOPICS_FREE
        rules = _RU_SYSTEM
    else:
        rule = _EN_TOPICS_FIXED if sectioned else _EN_TOPICS_FREE
        rules = _EN_SYSTEM
    # A part's own title and summary would repeat its topics: the reduce step writes the
    # meeting's from the topics, and the map answer stays short.
    asked = set(fields) if fields is not None else {key for key, _ in rules if key}
    if part is not None:
        asked -= {"title", "summary"}
    system = "\n".join(text for key, text in rules if key is None or key in asked).format(
        code=language,
        topics_rule=rule,
        owners=", ".join(owners),
        language=language_name(language),
    )
    lines = [line for group in groups for line in group]
    head: list[str] = []
    if part is not None and lines:
        span = f"{stamp(lines[0].start)}–{stamp(lines[-1].end)}"
        head.append(
            f"Это часть {part.index} из {part.count} длинного совещания ({span}). "
            "Составь протокол только этой части."
            if ru
            else f"This is part {part.index} of {part.count} of a long meeting ({span}). "
            "Write the minutes of this part only."
        )
    head.append(("Участники: " if ru else "Speakers: ") + ", ".join(owners) + ".")
    if sectioned:
        head.append(
            f"Стенограмма, разделов по темам: {len(groups)}."
            if ru
            else f"Transcript in {len(groups)} topic sections:"
        )
        body = "\n".join(
            f"# {'Тема' if ru else 'Topic'} {i}\n{render(group)}"
            for i, group in enumerate(groups, 1)
        )
    else:
        head.append("Стенограмма:" if ru else "Transcript:")
        body = render(lines)
    return [ChatMessage("system", system), ChatMessage("user", "\n".join(head) + "\n" + body)]


def chunk_messages(
    chunk: Chunk,
    language: str,
    owners: list[str],
    part: Part | None = None,
    fields: tuple[str, ...] | None = None,
) -> list[ChatMessage]:
    """The map prompt for `chunk`: the whole meeting when `part` is None, else that part."""
    return minutes_messages(chunk.groups, language, owners, chunk.sectioned, part, fields)


_NOTE_LABELS = {
    False: ("Part", "Summary", "Decisions", "Action items"),
    True: ("Часть", "Кратко", "Решения", "Задачи"),
}


def render_notes(notes: PartNotes, index: int, language: str = "en") -> str:
    part, summary, decisions, actions = _NOTE_LABELS[_russian(language)]
    out = [f"{part} {index} [{stamp(notes.start)}–{stamp(notes.end)}]: {notes.title}".rstrip()]
    if notes.summary:
        out.append(f"{summary}: {notes.summary}")
    if notes.decisions:
        out.append(f"{decisions}: " + "; ".join(notes.decisions))
    if notes.actions:
        out.append(f"{actions}: " + "; ".join(notes.actions))
    return "\n".join(out)


def reduce_messages(notes: list[PartNotes], language: str) -> list[ChatMessage]:
    system = (_RU_REDUCE if _russian(language) else _EN_REDUCE).format(
        code=language, language=language_name(language)
    )
    head = "Заметки о частях совещания:" if _russian(language) else "Notes on the parts:"
    body = "\n\n".join(render_notes(n, i, language) for i, n in enumerate(notes, 1))
    return [ChatMessage("system", system), ChatMessage("user", f"{head}\n\n{body}")]
