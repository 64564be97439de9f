"""QMSum → chat examples: the product's prompt, schema-valid targets, a held-out split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml_controller.minutes.prompts import minutes_messages
from ml_controller.minutes.schema import TASK_FIELDS
from training.datasets.chat import (
    ChatExample,
    load_examples,
    round_robin,
    split_by_meeting,
    target_json,
)
from training.eval.minutes import schema_valid

TRAIN = "summarization/qmsum_train.jsonl"


@pytest.fixture(scope="module")
def examples(data_dir: Path) -> list[ChatExample]:
    return load_examples(data_dir / TRAIN, min_words=60, max_words=400)


def test_examples_are_spans_of_a_few_hundred_words(examples: list[ChatExample]) -> None:
    assert len(examples) > 300
    assert all(60 <= e.words <= 400 for e in examples)
    assert len({e.meeting_id for e in examples}) > 100


def test_prompt_is_the_products_summary_task(examples: list[ChatExample]) -> None:
    example = examples[0]
    system, user = example.messages
    # The system prompt of the product's summary task does not depend on the lines.
    product = minutes_messages([[]], "en", list(example.spec.owners), False, None,
                               TASK_FIELDS["summary"])  # fmt: skip
    assert system == product[0]
    assert '"title"' in system.content and '"summary"' in system.content
    assert '"topics"' not in system.content and '"action_items"' not in system.content
    assert user.content.startswith("Speakers: ")
    first_line = user.content.split("\n")[2]
    assert first_line.startswith("[") and first_line[6:8] == "] "
    assert "{disfmarker}" not in user.content and "{vocalsound}" not in user.content


def test_targets_are_schema_valid_drafts_of_the_reference(examples: list[ChatExample]) -> None:
    for example in examples:
        assert schema_valid(example.target, example.spec), example.target
        answer = json.loads(example.target)
        assert list(answer) == ["language", "title", "summary"]
        assert answer["summary"] == example.reference
        assert answer["title"]
    # Compact, as the product's constrained decoder writes it.
    assert target_json("T", "S") == '{"language":"en","title":"T","summary":"S"}'


def test_split_holds_out_whole_meetings_deterministically(examples: list[ChatExample]) -> None:
    train, dev = split_by_meeting(examples, 0.1)
    train_ids = {e.meeting_id for e in train}
    dev_ids = {e.meeting_id for e in dev}
    assert train_ids.isdisjoint(dev_ids)
    assert len(train) + len(dev) == len(examples)
    share = len(dev_ids) / (len(dev_ids) + len(train_ids))
    assert 0.03 < share < 0.2
    again_train, again_dev = split_by_meeting(list(reversed(examples)), 0.1)
    assert {e.meeting_id for e in again_dev} == dev_ids
    assert len(again_train) == len(train)


def test_round_robin_takes_one_meeting_at_a_time(examples: list[ChatExample]) -> None:
    picked = round_robin(examples, 12)
    assert len(picked) == 12
    assert len({e.meeting_id for e in picked}) == 12
    assert round_robin(examples, 12) == picked


def test_missing_file_says_where_to_point(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="data_dir"):
        load_examples(tmp_path / "nope.jsonl")
