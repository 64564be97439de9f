"""Minutes split into one call per task (summary, topics, action items): schemas and prompts."""

from __future__ import annotations

import jsonschema
import pytest

from ml_controller.minutes.prompts import Part, minutes_messages
from ml_controller.minutes.schema import TASK_FIELDS, DraftSpec, MinutesDraft, draft_schema
from ml_controller.minutes.transcript import Line

SPEC = DraftSpec(language="en", owners=("Anna", "Boris"), stamps=("00:00", "00:07"), topic_count=1)
GROUPS = [[Line(0.0, 7.0, "Anna", "Boris, please send the budget by Friday.")]]


def test_the_tasks_cover_every_draft_field_once() -> None:
    fields = [name for names in TASK_FIELDS.values() for name in names]
    assert sorted(fields) == sorted(set(MinutesDraft.model_fields) - {"language"})


@pytest.mark.parametrize("task", list(TASK_FIELDS))
def test_a_task_schema_asks_only_for_its_fields(task: str) -> None:
    fields = TASK_FIELDS[task]
    schema = draft_schema(SPEC, fields)
    assert set(schema["properties"]) == {"language", *fields}
    assert schema["required"] == list(schema["properties"])
    assert schema["additionalProperties"] is False
    # The pins of the whole draft still hold on the slice.
    if "action_items" in fields:
        item = schema["properties"]["action_items"]["items"]["properties"]
        assert item["owner"]["enum"] == ["Anna", "Boris"]
        assert item["evidence"]["properties"]["start"]["enum"] == ["00:00", "00:07"]
    if "topics" in fields:
        assert schema["properties"]["topics"]["maxItems"] == 1
    other = next(n for t, names in TASK_FIELDS.items() if t != task for n in names)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"language": "en", other: []}, schema)


@pytest.mark.parametrize("task", list(TASK_FIELDS))
def test_a_task_prompt_describes_only_its_fields(task: str) -> None:
    fields = TASK_FIELDS[task]
    system = minutes_messages(GROUPS, "en", ["Anna", "Boris"], True, None, fields)[0].content
    for name in ("title", "summary", "topics", "action_items", "decisions"):
        assert (f'- "{name}":' in system) == (name in fields), name


def test_without_fields_the_prompt_asks_for_everything_and_a_part_has_no_overview() -> None:
    whole = minutes_messages(GROUPS, "ru", ["Anna", "Boris"], True)[0].content
    part = minutes_messages(GROUPS, "ru", ["Anna", "Boris"], True, Part(2, 3))[0].content
    for name in ("title", "summary", "topics", "action_items", "decisions"):
        assert f'- "{name}":' in whole
        assert (f'- "{name}":' in part) == (name not in ("title", "summary"))
    assert "по-русски" in whole


def test_answers_of_the_tasks_combine_into_one_draft() -> None:
    draft = MinutesDraft(language="en")
    draft = draft.combined(
        MinutesDraft(language="en", title="Budget", summary="Anna asked for the budget."),
        TASK_FIELDS["summary"],
    )
    draft = draft.combined(
        MinutesDraft.model_validate(
            {"language": "en", "decisions": ["Send the budget."], "action_items": []}
        ),
        TASK_FIELDS["action-items"],
    )
    assert draft.title == "Budget" and draft.decisions == ["Send the budget."]
    assert draft.topics == []
