"""Retrieval training data from votes: positives are the cited chunks of liked answers, hard negatives the
retrieved-not-cited chunks and the chunks of disliked answers; shuffled positives never keep their own."""

from __future__ import annotations

from engine.settings import Settings
from feedback.retrieval_data import RetrievalData, RetrievalExample, voted_examples
from feedback.store import AnswerRecord, FeedbackStore, question_key


def _answer(store: FeedbackStore, question: str, chunk_ids: list[str], cited: list[int], **links) -> str:
    grounding = {"sentences": [{"text": f"sentence {i}", "source": i} for i in cited]}
    return store.record_answer(AnswerRecord(
        question=question, standalone_query=None, history=[], chunk_ids=chunk_ids, chunk_hashes=[],
        prompt=[{"role": "user", "content": question}], answer=f"answer from {chunk_ids}",
        adapter_version=None, alias=None, sampling={}, guardrails={"grounding": grounding}, timings_ms={},
        source="test"), **links)


def test_liked_cited_chunks_are_positives_and_the_rest_hard_negatives(tmp_path):
    store = FeedbackStore(Settings(data_dir=tmp_path))
    liked = _answer(store, "How do I sort?", ["c1", "c2", "c3"], [1])
    store.record_vote(liked, "u1", 1, "test")
    disliked = _answer(store, "How do I log?", ["c4", "c5"], [0])
    store.record_vote(disliked, "u2", -1, "test")
    corrected = _answer(store, "How do I log?", ["c6"], [0], correction_of=disliked)
    store.record_vote(corrected, "admin", 1, "admin")
    nothing_cited = _answer(store, "What is a venv?", ["c7", "c8"], [])
    store.record_vote(nothing_cited, "u3", -1, "test")
    unvoted = _answer(store, "Unvoted?", ["c9"], [0])
    assert unvoted

    examples, _ = voted_examples(store)
    sort = examples[question_key("How do I sort?")]
    assert (sort.positives, sort.negatives) == (("c2",), ("c1", "c3"))
    log = examples[question_key("how do i log")]
    assert (log.positives, log.negatives) == (("c6",), ("c4",))
    venv = examples[question_key("What is a venv?")]
    assert (venv.positives, venv.negatives) == ((), ("c7", "c8"))
    assert question_key("Unvoted?") not in examples


def test_a_chunk_liked_for_a_question_is_never_its_negative(tmp_path):
    store = FeedbackStore(Settings(data_dir=tmp_path))
    bad = _answer(store, "Where are the logs?", ["c1", "c2"], [0])
    store.record_vote(bad, "u1", -1, "test")
    good = _answer(store, "where are the logs", ["c2", "c1"], [1])  # c1 cited by the liked answer
    store.record_vote(good, "u2", 1, "test")
    example = voted_examples(store)[0][question_key("Where are the logs?")]
    assert example.positives == ("c1",) and "c1" not in example.negatives and example.negatives == ("c2",)


def _data(n: int) -> RetrievalData:
    examples = [RetrievalExample(f"k{i}", f"question {i}", (f"p{i}",), (f"n{i}",)) for i in range(n)]
    chunks = {f"{kind}{i}": {"text": f"{kind} text {i}", "document_id": f"doc{i}"} for i in range(n) for kind in "pn"}
    return RetrievalData({"train": examples, "heldout": []}, chunks)


def test_shuffled_positives_belong_to_other_questions_and_rows_have_the_trainers_columns():
    data = _data(7)
    shuffled = data.shuffled(seed=3)
    for before, after in zip(data.examples["train"], shuffled.examples["train"]):
        assert after.positives != before.positives and after.negatives == before.positives
    assert sorted(p for e in shuffled.examples["train"] for p in e.positives) == sorted(f"p{i}" for i in range(7))
    assert shuffled.snapshot_id != data.snapshot_id
    triplet = data.triplets("train")[0]
    assert triplet == {"anchor": "question 0", "positive": "p text 0", "negative": "n text 0"}
    labels = [r["label"] for r in data.labelled_pairs("train", negatives_per_question=1)]
    assert labels.count(1.0) == 7 and labels.count(0.0) == 7
