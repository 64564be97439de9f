"""Scoring of benchmarks/extraction_quality: matching, owners, metric arithmetic (no LLM, no e5)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from benchmarks.extraction_quality import (
    Item,
    Scored,
    match,
    metrics,
    normalise_owner,
    owner_right,
    score,
    token_overlap,
)

# A stand-in for the e5 cosine: hand-set similarities between known texts, 0.5 otherwise.
PARAPHRASES = {
    ("Launch the beta on March 3", "The beta goes live on the third of March"): 0.91,
    ("Ask legal to review the contract", "Send the contract to the lawyers for a check"): 0.91,
    ("Maybe use a cheaper venue", "Could we find a less expensive venue?"): 0.93,
}


def fake_similarity(left: Sequence[str], right: Sequence[str]) -> np.ndarray:
    out = np.full((len(left), len(right)), 0.5)
    for i, a in enumerate(left):
        for j, b in enumerate(right):
            if a == b:
                out[i, j] = 1.0
            else:
                out[i, j] = PARAPHRASES.get((a, b), PARAPHRASES.get((b, a), 0.5))
    return out


GOLD = [
    Item("decision", "The beta goes live on the third of March"),
    Item("decision", "Keep the free tier"),
    Item("action", "Send the contract to the lawyers for a check", "Anna Petrova"),
    Item("action", "Book the venue for the offsite", "Project Manager", ("Marketing",)),
]
DISTRACTORS = ["Could we find a less expensive venue?"]


def test_exact_match_and_paraphrase() -> None:
    pairs = match(
        ["Keep the free tier", "Launch the beta on March 3"],
        [g.text for g in GOLD if g.kind == "decision"],
        fake_similarity,
    )
    assert [(p.pred, p.gold) for p in pairs] == [(0, 1), (1, 0)]
    assert pairs[0].cosine == 1.0 and pairs[1].cosine == pytest.approx(0.91)


def test_a_distractor_nearer_than_the_gold_wins() -> None:
    sims = {
        ("We will cut prices", "Keep the prices"): 0.92,
        ("We will cut prices", "Cut prices"): 0.95,
    }

    def similarity(left: Sequence[str], right: Sequence[str]) -> np.ndarray:
        return np.array([[sims.get((a, b), 0.5) for b in right] for a in left])

    assert len(match(["We will cut prices"], ["Keep the prices"], similarity)) == 1
    assert not match(["We will cut prices"], ["Keep the prices"], similarity, ["Cut prices"])


def test_moderate_cosine_needs_shared_words() -> None:
    sims = {("Translate the app into Spanish first", "The Spanish version waits"): 0.88}

    def similarity(left: Sequence[str], right: Sequence[str]) -> np.ndarray:
        return np.array([[sims.get((a, b), 0.5) for b in right] for a in left])

    assert not match(
        ["Translate the app into Spanish first"], ["The Spanish version waits"], similarity
    )
    sims[("Translate the app into Spanish first", "Translate the app to Spanish")] = 0.88
    assert match(
        ["Translate the app into Spanish first"], ["Translate the app to Spanish"], similarity
    )


def test_one_to_one() -> None:
    # two copies of one decision: only one counts
    pairs = match(
        ["Keep the free tier", "Keep the free tier"], ["Keep the free tier"], fake_similarity
    )
    assert len(pairs) == 1


def test_token_overlap_fallback() -> None:
    # the embedder says 0.5, the words say the same thing
    assert token_overlap("Book the venue for the offsite", "book venue offsite") >= 0.5
    pairs = match(["book venue offsite"], ["Book the venue for the offsite"], fake_similarity)
    assert len(pairs) == 1
    # Russian endings: the first letters of a word are compared
    assert token_overlap("Подготовить бюджет проекта", "подготовит бюджета проект") == 1.0
    assert token_overlap("Keep the free tier", "Order the pizza") == 0.0


def test_owner_normalisation() -> None:
    assert normalise_owner("PM") == "project manager"
    assert normalise_owner("the Project Manager") == "project manager"
    assert normalise_owner("Marketing Expert") == "marketing"
    assert normalise_owner("UI") == "user interface"
    assert normalise_owner("Anna Petrova") == "anna"
    assert normalise_owner("  anna ") == "anna"
    assert normalise_owner("Алёна Иванова") == "алена"
    assert normalise_owner("S2", {"S2": "Ben"}) == "ben"
    assert normalise_owner(None) == ""
    gold = GOLD[3]
    assert owner_right(Item("action", "x", "pm"), gold)
    assert owner_right(Item("action", "x", "Marketing"), gold)  # a co-owner
    assert not owner_right(Item("action", "x", "Industrial Designer"), gold)
    assert not owner_right(Item("action", "x", ""), gold)


def test_score_meeting() -> None:
    pred = [
        Item("decision", "Launch the beta on March 3"),  # paraphrase of a gold decision
        Item("decision", "Maybe use a cheaper venue"),  # a distractor taken
        Item("action", "Ask legal to review the contract", "Anna"),  # paraphrase, right owner
        Item("action", "Book the venue for the offsite", "Industrial Designer"),  # wrong owner
        Item("action", "Order the pizza", "Ben"),  # invented
    ]
    s = score(pred, GOLD, DISTRACTORS, fake_similarity)
    assert (s.gold_decisions, s.pred_decisions, s.decisions_matched) == (2, 2, 1)
    assert (s.gold_actions, s.pred_actions, s.actions_matched) == (2, 3, 2)
    assert s.actions_owner_right == 1
    assert s.distractors_taken == 1
    assert s.invented == 1
    assert s.other_kind == 0
    verdicts = sorted(a["verdict"] for a in s.audit)
    assert verdicts == ["distractor", "invented", "match", "match", "match", "missed"]


def test_other_kind_is_neither_right_nor_invented() -> None:
    pred = [Item("decision", "Send the contract to the lawyers for a check")]
    s = score(pred, GOLD, DISTRACTORS, fake_similarity)
    assert s.decisions_matched == 0 and s.other_kind == 1 and s.invented == 0


def test_metric_arithmetic() -> None:
    a = Scored(
        gold_decisions=2, pred_decisions=2, decisions_matched=1,
        gold_actions=2, pred_actions=3, actions_matched=2, actions_owner_right=1,
        distractors_taken=1, invented=1,
    )  # fmt: skip
    b = Scored(gold_decisions=2, pred_decisions=0, gold_actions=0, pred_actions=1, invented=1)
    m = metrics([a, b], [10.0, 20.0])
    assert m["meetings"] == 2
    assert m["decision_recall"] == 0.25
    assert m["decision_precision"] == 0.5
    assert m["action_recall"] == 1.0
    assert m["action_recall_owner"] == 0.5
    assert m["action_precision"] == 0.5
    assert m["invented_per_meeting"] == 1.0
    assert m["distractors_taken"] == 1
    assert m["seconds_per_meeting"] == 15.0
    empty = metrics([Scored()], [1.0])
    assert empty["decision_recall"] is None and empty["action_precision"] is None
