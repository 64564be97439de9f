"""The JSON-schema byte parser behind constrained decoding, on the real minutes draft schema."""

from __future__ import annotations

import json
import random

import jsonschema
import pytest

from ml_controller.llm.json_grammar import (
    SchemaNotSupportedError,
    TokenConstraint,
    compile_schema,
    feed,
    initial_state,
    is_complete,
    shortest_completion,
)
from ml_controller.minutes.schema import DraftSpec, draft_schema, minutes_schema

SPEC = DraftSpec("ru", ("Анна", "Борис"), ("[00:00]", "[00:12]"), None)


def accepts(schema: dict[str, object], text: str) -> bool:
    state = initial_state(compile_schema(schema))
    for byte in text.encode("utf-8"):
        moved = feed(state, byte)
        if moved is None:
            return False
        state = moved
    return is_complete(state)


def test_valid_draft_is_accepted_and_invalid_ones_are_not() -> None:
    schema = draft_schema(SPEC)
    good = {
        "language": "ru",
        "title": "Релиз",
        "summary": 'Обсудили "релиз"\n',
        "topics": [{"start": "[00:00]", "title": "План", "summary": "Сроки."}],
        "action_items": [
            {
                "owner": "Анна",
                "task": "Отправить гайд",
                "due": None,
                "evidence": {"start": "[00:00]", "end": "[00:12]"},
            }
        ],
        "decisions": ["Выпускаем в пятницу"],
    }
    assert accepts(schema, json.dumps(good, ensure_ascii=False, separators=(",", ":")))
    # Compact output only, and no \u escapes (they could spell lone surrogates).
    assert not accepts(schema, json.dumps(good, ensure_ascii=False))
    assert accepts({"type": "string"}, '"a\\nb"')
    assert not accepts({"type": "string"}, '"\\u0041"')
    changes: list[dict[str, object]] = [
        {"language": "en"},  # outside the enum
        {"topics": []},  # below minItems
        {"decisions": ["x"] * 11},  # above maxItems
        {"extra": 1},  # not a property
    ]
    for change in changes:
        bad = good | change
        assert not accepts(schema, json.dumps(bad, ensure_ascii=False, separators=(",", ":")))
    missing = {k: v for k, v in good.items() if k != "summary"}
    assert not accepts(schema, json.dumps(missing, ensure_ascii=False, separators=(",", ":")))


def test_shortest_completion_is_valid_from_anywhere() -> None:
    schema = minutes_schema()
    text = '{"language":"en","title":"Q3 pl'
    state = initial_state(compile_schema(schema))
    for end in range(len(text) + 1):
        prefix = text[:end].encode()
        walked = state
        for byte in prefix:
            moved = feed(walked, byte)
            assert moved is not None
            walked = moved
        jsonschema.validate(json.loads(prefix + shortest_completion(walked)), schema)


def test_random_walks_within_budget_always_end_valid() -> None:
    """Any token choice the constraint allows leads to valid JSON within the budget."""
    schema = draft_schema(SPEC)
    pieces: list[bytes | None] = [bytes([b]) for b in range(256)]
    pieces += [p.encode() for p in ('{"', '":"', '","', '"},', "Анна", " the", '"]', "12")]
    pieces.append(None)  # a special token: never allowed
    constraint = TokenConstraint(pieces)
    rng = random.Random(7)
    for budget in (160, 300):
        state = initial_state(compile_schema(schema))
        out = b""
        for used in range(budget):
            if not state:
                break
            token = rng.choice(constraint.allowed(state, budget - used))
            piece = pieces[token]
            assert piece is not None
            for byte in piece:
                moved = feed(state, byte)
                assert moved is not None
                state = moved
            out += piece
        assert not state
        jsonschema.validate(json.loads(out), schema)


def test_unsupported_schemas_are_refused() -> None:
    with pytest.raises(SchemaNotSupportedError):
        compile_schema({"anyOf": [{"type": "object"}, {"type": "object"}]})
    with pytest.raises(SchemaNotSupportedError):
        compile_schema({"type": "string", "maxLength": 5})
    with pytest.raises(SchemaNotSupportedError):
        compile_schema({"type": "object", "properties": {}, "required": ["a"]})
