"""The reduce step when the notes on the parts do not fit one call, on real meeting notes."""

from __future__ import annotations

import json
from pathlib import Path

from ml_controller.minutes.ask import prompt_tokens
from ml_controller.minutes.prompts import PartNotes, reduce_messages
from ml_controller.minutes.reduce import Reducer
from tests.ml_controller.llm.engines import llm_settings, shared_llama_engine


def _notes(data_dir: Path) -> list[PartNotes]:
    """QMSum's human answers about the parts of meeting TS3009c, as if the map step wrote them."""
    path = data_dir / "summarization" / "qmsum_val.jsonl"
    row = next(r for r in map(json.loads, path.read_text().splitlines()) if r["id"] == "TS3009c")
    answers = [q for q in row["specific_query_list"]]
    return [
        PartNotes(start=i * 300.0, end=(i + 1) * 300.0, title=q["query"], summary=q["answer"])
        for i, q in enumerate(answers)
    ]


def test_notes_too_long_for_one_call_are_reduced_in_groups(data_dir: Path) -> None:
    engine = shared_llama_engine()
    notes = _notes(data_dir)
    reducer = Reducer(engine, llm_settings(llm_context=768, llm_map_max_tokens=96), "en")
    assert prompt_tokens(engine, reduce_messages(notes, "en")) > reducer.budget
    groups = reducer.groups(notes)
    assert len(groups) >= 2 and all(len(g) >= 2 for g in groups)
    assert [n for g in groups for n in g] == notes, "consecutive, none left out"
    result = reducer.summarize(notes)
    assert reducer.ask.calls >= len(groups) + 1
    assert result.language == "en" and result.title and len(result.summary.split()) >= 5
