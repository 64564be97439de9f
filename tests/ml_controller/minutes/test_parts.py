"""The writer's parts without generation: schemas, salvage, chunking, grounding, assembly."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from llama_cpp.llama_grammar import LlamaGrammar

from core.results import Minutes, MinutesTopic, Segment, Speaker, Topic
from ml_controller.minutes.ask import Asker, check
from ml_controller.minutes.assemble import merge_topics
from ml_controller.minutes.cli_input import load_transcript
from ml_controller.minutes.grounding import OwnerResolver, due_is_grounded, part_minutes, tidy
from ml_controller.minutes.plan import plan_chunks, whole_meeting
from ml_controller.minutes.prompts import minutes_messages
from ml_controller.minutes.salvage import parse_lenient, salvage
from ml_controller.minutes.schema import (
    DraftSpec,
    MinutesDraft,
    check_minutes,
    draft_schema,
    minutes_schema,
    summary_schema,
)
from ml_controller.minutes.transcript import Line, parse_stamp, stamp, stamps, to_lines
from tests.ml_controller.llm.engines import shared_llama_engine
from tests.ml_controller.minutes.meetings import qmsum, synthetic

SPEC = DraftSpec(language="en", owners=("Anna", "S2"), stamps=("00:00", "00:07"), topic_count=2)


def test_minutes_schema_is_the_pydantic_model_closed() -> None:
    schema = minutes_schema()
    assert "$defs" not in json.dumps(schema)
    assert schema["additionalProperties"] is False
    assert schema["required"] == list(Minutes.model_fields)
    item = schema["properties"]["action_items"]["items"]
    assert item["required"] == ["owner", "task", "due", "evidence"]
    check_minutes(Minutes.empty("ru"))
    bad = Minutes.empty("en").model_dump() | {"sentiment": "good"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_draft_schema_pins_language_owners_times_and_topic_count() -> None:
    schema = draft_schema(SPEC)
    props = schema["properties"]
    assert props["language"]["enum"] == ["en"]
    assert props["topics"]["minItems"] == props["topics"]["maxItems"] == 2
    assert list(props["topics"]["items"]["properties"]) == ["title", "summary"]
    item = props["action_items"]["items"]["properties"]
    assert item["owner"]["enum"] == ["Anna", "S2"]
    assert item["evidence"]["properties"]["end"]["enum"] == ["00:00", "00:07"]
    free = draft_schema(DraftSpec("en", ("Anna",), ("00:00",), None))["properties"]["topics"]
    assert free["items"]["properties"]["start"]["enum"] == ["00:00"] and free["minItems"] == 1


@pytest.mark.parametrize(
    "schema", [draft_schema(SPEC), draft_schema(DraftSpec("ru", (), ("00:01",), None))]
)
def test_llama_cpp_turns_the_schemas_into_grammars(schema: dict[str, object]) -> None:
    # llama-cpp-python silently falls back to "any JSON" when a schema does not convert, so
    # the conversion itself must succeed.
    assert LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False) is not None
    assert LlamaGrammar.from_json_schema(json.dumps(summary_schema("en")), verbose=False)


def test_cut_off_answer_keeps_everything_before_the_cut() -> None:
    full = {
        "language": "en",
        "title": "Release planning",
        "summary": "We release on Monday.",
        "topics": [{"title": "Release", "summary": "Monday."}],
        "decisions": ["Release version two next Monday"],
        "action_items": [
            {"owner": "S2", "task": "Write the guide", "due": "Friday",
             "evidence": {"start": "00:07", "end": "00:07"}},
            {"owner": "Anna", "task": "Ask the landlord", "due": None,
             "evidence": {"start": "00:00", "end": "00:07"}},
        ],
    }  # fmt: skip
    text = json.dumps(full)
    cut = text[: text.index("Ask the land") + 5]
    value, reason = check(cut, draft_schema(SPEC), MinutesDraft)
    assert value is None and "cut off" in reason
    parsed = parse_lenient(cut)
    kept = MinutesDraft.model_validate(salvage(parsed, draft_schema(SPEC)))
    assert kept.title == "Release planning" and kept.decisions == full["decisions"]
    # The half-written second item is dropped, the first kept; the missing topic is padded.
    assert [a.task for a in kept.action_items] == ["Write the guide"]
    assert len(kept.topics) == 2 and kept.topics[1].title == ""
    assert parse_lenient("no json at all") is None
    assert parse_lenient('```json\n{"a": [1, 2') == {"a": [1, 2]}


def test_invalid_answers_are_retried_then_salvaged_with_the_real_model() -> None:
    engine = shared_llama_engine()
    schema = summary_schema("en")
    calls = engine.usage.calls
    messages = minutes_messages(
        [[Line(0, 3, "Anna", "We release on Monday.")]], "en", ["Anna"], False
    )
    # Eight tokens cannot hold the object: both answers are cut off, the rest is salvaged.
    from ml_controller.minutes.schema import SummaryDraft

    asker = Asker(engine, "en")
    value = asker(messages, schema, SummaryDraft, max_tokens=8, task="summary")
    assert (asker.calls, asker.salvaged, asker.repairs) == (1, 1, 0)
    assert engine.usage.calls == calls + 2
    assert value.language == "en"


def test_chunks_cover_every_line_once_within_budget(data_dir: Path) -> None:
    engine = shared_llama_engine()
    meeting = qmsum(data_dir, "TS3010a")
    lines = to_lines(meeting.segments, meeting.speakers)
    budget = 600
    chunks = plan_chunks(lines, meeting.topics, budget, engine.count_tokens)
    assert " ".join(ln.text for c in chunks for ln in c.lines) == " ".join(ln.text for ln in lines)
    for chunk in chunks:
        assert sum(engine.count_tokens(ln.render()) + 1 for ln in chunk.lines) <= budget
        assert chunk.topics is not None and len(chunk.topics) == len(chunk.groups)
    indexes = [t.index for c in chunks for t in c.topics or []]
    assert indexes == sorted(indexes) and set(indexes) == {0, 1, 2}
    # A single line longer than the budget is split between words, times shared out.
    long_line = Line(10.0, 70.0, "Anna", " ".join(["budget"] * 400))
    pieces = plan_chunks([long_line], [], 120, engine.count_tokens)
    assert len(pieces) > 3 and pieces[0].topics is None
    assert pieces[0].lines[0].start == 10.0 and pieces[-1].lines[-1].end == pytest.approx(70.0)
    assert sum(len(c.lines[0].text.split()) for c in pieces) == 400


def test_lines_outside_topics_join_the_nearest(data_dir: Path) -> None:
    meeting = synthetic(data_dir, "synth_en_meeting")
    lines = to_lines(meeting.segments, meeting.speakers)
    # Segments that leave out the first and last seconds must not lose those lines.
    topics = [Topic(start=5.0, end=60.0), Topic(start=60.0, end=150.0)]
    whole = whole_meeting(lines, topics)
    first = sum(1 for ln in lines if (ln.start + ln.end) / 2 <= 60.0)
    assert [len(g) for g in whole.groups] == [first, len(lines) - first]
    assert whole.groups[0][0].start < 5.0 and whole.groups[1][-1].end > 150.0
    assert whole.lines == lines


def test_owner_names_and_labels() -> None:
    resolver = OwnerResolver({"S1": "Anna Petrova", "S2": "S2", "S3": "Boris"})
    assert resolver.resolve("Anna Petrova") == "Anna Petrova"
    assert resolver.resolve("s1") == "Anna Petrova", "the label of a named speaker"
    assert resolver.resolve("Anna") == "Anna Petrova"
    assert resolver.resolve("Borris") == "Boris"
    assert resolver.resolve("S2") == "S2"
    assert resolver.resolve("Everyone") is None


def test_deadlines_must_have_been_said() -> None:
    words = {"we", "will", "fix", "it", "by", "thursday", "and", "send", "on", "the", "15"}
    assert due_is_grounded("Thursday", words)
    assert due_is_grounded("by next Thursday", words)
    assert due_is_grounded("the 15th", words) is False
    assert due_is_grounded("15", words)
    assert not due_is_grounded("2023-04-15", words)
    assert not due_is_grounded("Friday", words)
    assert not due_is_grounded("next week", words)
    assert due_is_grounded("в пятницу", {"сделаю", "к", "пятнице"})


def test_part_minutes_check_the_draft_against_the_transcript() -> None:
    segments = [
        Segment(start=0.5, end=6.0, speaker="S1", text="Boris, send the guide on Friday."),
        Segment(start=7.2, end=9.0, speaker="S2", text="Sure, I will."),
        Segment(start=7.9, end=12.5, speaker="S1", text="And the chairs can wait."),
    ]
    speakers = [Speaker(id="S1", name="Anna"), Speaker(id="S2", name="Boris")]
    lines = to_lines(segments, speakers)
    assert [ln.render() for ln in lines][1] == "[00:07] Boris: Sure, I will."
    assert stamps(lines) == ["00:00", "00:07"]
    chunk = whole_meeting(lines, [Topic(start=0, end=13)])
    draft = MinutesDraft.model_validate(
        {
            "language": "en", "title": " Guide ", "summary": "A. A. B.",
            "topics": [{"title": "Guide", "summary": "Sent on Friday."}],
            "decisions": ["", "The chairs can wait."],
            "action_items": [
                {"owner": "boris", "task": "Send the guide", "due": "Friday",
                 "evidence": {"start": "00:07", "end": "00:00"}},
                {"owner": "Anna", "task": "Order chairs", "due": "2024-05-01",
                 "evidence": {"start": "00:07", "end": "00:07"}},
                {"owner": "The team", "task": "Celebrate", "due": None,
                 "evidence": {"start": "00:00", "end": "00:00"}},
            ],
        }
    )  # fmt: skip
    part = part_minutes(
        draft, chunk, [Topic(start=0, end=13)], OwnerResolver({"S1": "Anna", "S2": "Boris"}), 12.0
    )
    assert (
        part.title == "Guide"
        and part.summary == "A. B."
        and part.decisions == ["The chairs can wait."]
    )
    first, second = part.action_items
    assert (first.owner, first.due) == ("Boris", "Friday")
    # Cited in reverse order: both lines are covered; the second line's mark 00:07 covers two lines.
    assert (first.evidence.start, first.evidence.end) == (0.5, 12.0)
    assert second.due is None and second.evidence.start == 7.2
    assert part.fixes.owners_remapped == 1 and part.fixes.items_dropped == 1
    assert part.fixes.due_dropped == 1
    assert part.topics[0][1].end == 12.0, "clipped to the recording"


def test_topics_are_merged_sorted_and_clipped() -> None:
    parts = [
        (1, MinutesTopic(title="Budget", start=40, end=90, summary="Chairs.")),
        (0, MinutesTopic(title="Release", start=0, end=40, summary="Monday.")),
        (1, MinutesTopic(title="", start=40, end=90, summary="Room.")),
        (None, MinutesTopic(title="Other", start=95, end=130, summary="")),
    ]
    merged = merge_topics(parts, 120.0)
    assert [(t.title, t.start, t.end, t.summary) for t in merged] == [
        ("Release", 0, 40, "Monday."),
        ("Budget", 40, 90, "Chairs. Room."),
        ("Other", 95, 120.0, ""),
    ]


def test_untitled_topics_get_a_title_from_their_summary_or_number() -> None:
    # A cut-off answer can leave a topic without a title; the reader still gets one.
    parts: list[tuple[int | None, MinutesTopic]] = [
        (0, MinutesTopic(title="", start=0, end=40, summary="The price of the remote. More.")),
        (1, MinutesTopic(title="", start=40, end=90, summary="")),
        (
            2,
            MinutesTopic(
                title="", start=90, end=99, summary="one two three four five six seven eight nine"
            ),
        ),
    ]
    titles = [t.title for t in merge_topics(parts, 120.0, "ru")]
    assert titles == [
        "The price of the remote",
        "Тема 2",
        "one two three four five six seven eight…",
    ]
    assert merge_topics(parts[1:2], 120.0, "en")[0].title == "Topic 1"


def test_small_helpers(tmp_path: Path) -> None:
    assert stamp(75 * 60 + 30.9) == "75:30" and parse_stamp("75:30") == 4530.0
    assert parse_stamp("1:02:03") == 3723.0 and parse_stamp("soon") is None
    assert tidy("We agreed. We  agreed. We decided X. We deci") == "We agreed. We decided X."
    # A hand-made {"segments": [...]} file counts as process output.
    path = tmp_path / "segments.json"
    path.write_text(
        '{"segments": [{"start": 0, "end": 2, "speaker": "S1", "text": "Привет всем"}]}'
    )
    segments, _, speakers, language, _ = load_transcript(path)
    assert len(segments) == 1 and speakers == [Speaker(id="S1")] and language == "ru"
