"""Preference data: labels, pairs of every kind, dedupe, contradictions, split by question, TRL JSONL."""

from __future__ import annotations

import json

from fb_helpers import answer_record

from feedback import FeedbackStore
from feedback.datasets import build_preference_data, export_jsonl, heldout_split


def _voted(store: FeedbackStore, question: str, answer: str, votes: dict[str, int], **kw) -> str:
    aid = store.record_answer(answer_record(question=question, answer=answer, **kw))
    for user, value in votes.items():
        store.record_vote(aid, user, value, "slack")
    return aid


def test_pairs_of_every_kind_and_drops(make_settings) -> None:
    store = FeedbackStore(make_settings(feedback={"heldout_fraction": 0.0}))
    # same question (near-identical wording): 👍 vs 👎
    _voted(store, "How many vacation days?", "25 days [1].", {"U1": 1})
    _voted(store, "how many vacation days", "I don't know.", {"U2": -1})
    # thread correction
    _voted(store, "Where is the VPN guide?", "Nowhere.", {"U1": -1}, channel="C", thread_ts="1.0")
    _voted(store, "the vpn guide please", "See IT wiki [2].", {"U1": 1}, channel="C", thread_ts="1.0")
    # admin correction
    bad = _voted(store, "Who approves expenses?", "Nobody.", {"U3": -1})
    store.record_correction(bad, "Your manager approves expenses [3].", actor="ADMIN")
    # regenerated alternative picked by the user
    first = store.record_answer(answer_record(question="Parking?", answer="No parking."))
    alt = store.record_answer(answer_record(question="Parking?", answer="Level -2 [4]."), alternative_of=first)
    store.record_pick(first, alt, user="U4", chosen_id=alt)
    # a tie and a contradiction are dropped
    _voted(store, "Lunch?", "At noon.", {"U1": 1, "U2": -1})
    _voted(store, "Badge?", "At reception.", {"U1": 1})
    _voted(store, "badge", "At reception.", {"U2": -1})

    data = build_preference_data(store)
    kinds = sorted(p.kind for p in data.pairs["train"])
    assert kinds == ["admin_correction", "regenerated", "same_question", "thread_correction"]
    correction = next(p for p in data.pairs["train"] if p.kind == "admin_correction")
    assert (correction.chosen, correction.rejected) == ("Your manager approves expenses [3].", "Nobody.")
    assert correction.prompt[0]["role"] == "system"  # the exact prompt with context
    assert data.dropped == {"tie": 1, "contradictory_answers": 2}
    assert all(k.completion not in ("At noon.", "At reception.") for k in data.kto["train"])
    pos = sum(k.label for k in data.kto["train"])
    neg = len(data.kto["train"]) - pos
    w_pos, w_neg = data.kto_class_weights()
    assert w_pos * pos == w_neg * neg


def test_split_is_by_question_and_stable(make_settings, tmp_path) -> None:
    settings = make_settings(feedback={"heldout_fraction": 0.5})
    store = FeedbackStore(settings)
    for i in range(30):
        _voted(store, f"Question number {i}?", f"good {i}", {"U1": 1})
        _voted(store, f"question number {i}", f"bad {i}", {"U2": -1})
    data = build_preference_data(store)
    train_q = {p.question_key for p in data.pairs["train"]} | {k.question_key for k in data.kto["train"]}
    held_q = {p.question_key for p in data.pairs["heldout"]} | {k.question_key for k in data.kto["heldout"]}
    assert train_q and held_q and not train_q & held_q
    assert len(data.pairs["train"]) + len(data.pairs["heldout"]) == 30  # one pair per question
    assert all(heldout_split(q, settings) == "heldout" for q in held_q)
    assert build_preference_data(store).snapshot_id == data.snapshot_id
    out = tmp_path / "dpo.jsonl"
    assert export_jsonl(data, "dpo", "train", out) == len(data.pairs["train"])
    row = json.loads(out.read_text().splitlines()[0])
    assert set(row) == {"prompt", "chosen", "rejected"} and row["chosen"][0]["role"] == "assistant"
    out = tmp_path / "kto.jsonl"
    export_jsonl(data, "kto", "all", out)
    assert {json.loads(line)["label"] for line in out.read_text().splitlines()} == {True, False}
