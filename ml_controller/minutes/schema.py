"""JSON schemas of the minutes: the final `Minutes`, and the drafts the LLM is asked to write.

All are derived from pydantic models. A draft differs from `Minutes` only where that makes a small
model reliable: times are the `[mm:ss]` marks of the transcript lines (an enum, so evidence can
only cite a line that exists), owners are an enum of the speakers, the language is fixed, and
known topic segments fix the number of topics. The writer turns a draft into `Minutes`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jsonschema
from pydantic import BaseModel, ConfigDict

from core.results import Minutes

MAX_DECISIONS = 10
MAX_ACTION_ITEMS = 10
MAX_FREE_TOPICS = 8


class _Draft(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DraftEvidence(_Draft):
    start: str
    end: str


class DraftActionItem(_Draft):
    owner: str
    task: str
    due: str | None
    evidence: DraftEvidence


class DraftTopic(_Draft):
    # Only asked for when no topic segmentation is given: where the topic begins.
    start: str | None = None
    # Title first: with the summary first the 1.5B model swapped the two.
    title: str
    summary: str


class MinutesDraft(_Draft):
    """What one LLM call writes for the whole meeting, or for one part of a long one."""

    language: str
    # Not asked of a part of a long meeting (the reduce step writes the meeting's).
    title: str = ""
    summary: str = ""
    # Defaults only so that one task's slice (`TASK_FIELDS`) validates alone: the JSON schema
    # the model gets still requires every field it asks for.
    topics: list[DraftTopic] = []
    # Tasks before decisions: written first, they no longer end up among the decisions.
    action_items: list[DraftActionItem] = []
    decisions: list[str] = []

    def combined(self, other: MinutesDraft, fields: tuple[str, ...]) -> MinutesDraft:
        """This draft with `fields` taken from `other` (one task's answer)."""
        return self.model_copy(update={name: getattr(other, name) for name in fields})


class SummaryDraft(_Draft):
    """The reduce step: the meeting's title and summary from the notes on its parts."""

    language: str
    title: str
    summary: str


# The tasks a draft splits into when every task has its own model or LoRA adapter (the seeds'
# summary / action items / topics adapters), and the fields each one writes.
TASK_FIELDS: dict[str, tuple[str, ...]] = {
    "summary": ("title", "summary"),
    "topics": ("topics",),
    "action-items": ("action_items", "decisions"),
}


@dataclass(frozen=True)
class DraftSpec:
    language: str
    owners: tuple[str, ...]
    stamps: tuple[str, ...]
    # None: no topic segmentation is known and the model places topics itself.
    topic_count: int | None
    # False for a part of a long meeting: no title or summary of its own.
    overall: bool = True


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """Self-contained and closed: $refs inlined, every property required, nothing extra allowed.

    Grammar-based decoders handle this subset best, and a required field cannot be skipped.
    """
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return walk(defs[node["$ref"].rsplit("/", 1)[-1]])
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("$defs", "title", "default", "description"):
                continue
            if key == "properties":
                out[key] = {name: walk(sub) for name, sub in value.items()}
            else:
                out[key] = walk(value)
        if out.get("type") == "object" and "properties" in out:
            out["required"] = list(out["properties"])
            out["additionalProperties"] = False
        return out

    result = walk(schema)
    assert isinstance(result, dict)
    return result


@lru_cache(maxsize=1)
def _minutes_schema() -> dict[str, Any]:
    return strict(Minutes.model_json_schema())


def minutes_schema() -> dict[str, Any]:
    """The schema of DESIGN.md's minutes, as a fresh copy the caller may change."""
    return copy.deepcopy(_minutes_schema())


def check_minutes(minutes: Minutes) -> None:
    """Raise jsonschema.ValidationError unless `minutes` matches the published schema."""
    jsonschema.validate(minutes.model_dump(mode="json"), _minutes_schema())


@lru_cache(maxsize=1)
def _draft_base() -> dict[str, Any]:
    return strict(MinutesDraft.model_json_schema())


def draft_schema(spec: DraftSpec, fields: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The draft's schema for `spec`; with `fields`, only those (and "language") are asked."""
    schema = copy.deepcopy(_draft_base())
    props = schema["properties"]
    props["language"] = {"type": "string", "enum": [spec.language]}
    if not spec.overall:
        for key in ("title", "summary"):
            del props[key]
    if fields is not None:
        for key in [k for k in props if k != "language" and k not in fields]:
            del props[key]
    schema["required"] = list(props)
    stamp_enum = {"type": "string", "enum": list(spec.stamps)}

    if "topics" in props:
        topic = props["topics"]["items"]
        if spec.topic_count is None:
            topic["properties"]["start"] = dict(stamp_enum)
            props["topics"].update(minItems=1, maxItems=MAX_FREE_TOPICS)
        else:
            del topic["properties"]["start"]
            topic["required"] = [k for k in topic["required"] if k != "start"]
            props["topics"].update(minItems=spec.topic_count, maxItems=spec.topic_count)

    if "decisions" in props:
        props["decisions"]["maxItems"] = MAX_DECISIONS
    if "action_items" in props:
        item = props["action_items"]["items"]
        props["action_items"]["maxItems"] = MAX_ACTION_ITEMS
        if spec.owners:
            item["properties"]["owner"] = {"type": "string", "enum": list(spec.owners)}
        evidence = item["properties"]["evidence"]["properties"]
        evidence["start"] = dict(stamp_enum)
        evidence["end"] = dict(stamp_enum)
    return schema


def summary_schema(language: str) -> dict[str, Any]:
    schema = strict(SummaryDraft.model_json_schema())
    schema["properties"]["language"] = {"type": "string", "enum": [language]}
    return schema
