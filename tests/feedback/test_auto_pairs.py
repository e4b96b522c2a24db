"""Automatic preference pairs: sampled on the real vLLM, ranked by the gate's support check, weighted below
human votes in the loss, recorded in the lineage; skipped prompts, human vetoes, identical texts, off by default."""

from __future__ import annotations

import pytest
from fb_helpers import answer_record

from bot.prompting import SYSTEM_PROMPT
from engine.rag.embedder import Embedder
from engine.registry import AdapterRegistry
from feedback import FeedbackStore
from feedback.auto_pairs import Candidate, candidates, rank_pair, with_automatic_pairs
from feedback.datasets import build_preference_data
from feedback.jobs import run_training
from feedback.synthetic import seed_pairs

FACT = "Employees get 25 vacation days per year."
OTHER = "Unused vacation days expire on 31 March of the following year."


def _prompt(question: str) -> list[dict]:
    system = f"{SYSTEM_PROMPT}\n\nSources:\n[1] Handbook > Leave\n{FACT}\n\n[2] Handbook > Leave > Carry-over\n{OTHER}"
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]


def _grounded(store: FeedbackStore, question: str, **kw) -> str:
    """An answer the grounding rails rewrote: it showed the first source's sentence, cited."""
    rails = {"grounding": {"answer": "extractive", "sentences": [{"text": FACT, "source": 0}]},
             "model_text": "You get unlimited holidays."}
    return store.record_answer(answer_record(question=question, answer=f"{FACT} [1]", prompt=_prompt(question),
                                             guardrails=rails, **kw))


def _auto_settings(**auto):
    values = {"enabled": True, "samples": 3, "max_tokens": 24, "min_support": 0.5, "margin": 0.0, "weight": 0.5,
              **auto}
    return {"heldout_fraction": 0.0, "auto_pairs": values}


@pytest.mark.vllm
def test_training_job_adds_weighted_automatic_pairs_and_records_them(make_settings, vllm_url) -> None:
    settings = make_settings(engine={"vllm_url": vllm_url}, feedback=_auto_settings())
    store = FeedbackStore(settings)
    seed_pairs(store, 2)  # human pairs; their prompts carry no numbered sources: never sampled
    liked = _grounded(store, "How many vacation days do I get?")
    disliked = _grounded(store, "How many days off per year?")
    store.record_vote(disliked, "U9", -1, "slack")  # a user said the grounded text is wrong: it is never chosen
    store.record_answer(answer_record(question="Can I sell vacation days?", answer="No.", prompt=_prompt("x"),
                                      refused=True, refusal_rail="output"))
    store.record_answer(answer_record(question="When do days expire?", answer=OTHER, prompt=_prompt("y"),
                                      sampling={"cached": True}))
    registry = AdapterRegistry(settings, store.sessions)

    data = with_automatic_pairs(settings, store, build_preference_data(store), registry, "dpo")

    auto = [p for p in data.pairs["train"] if p.kind == "automatic"]
    human = [p for p in data.pairs["train"] if p.kind != "automatic"]
    assert len(human) == 2 and all(p.weight == 1.0 for p in human)  # human pairs kept, full weight
    assert data.automatic["skipped"]["no_sources"] == 4  # every answer of seed_pairs
    assert data.automatic["skipped"]["refusal"] == 1 and data.automatic["skipped"]["no_prompt"] == 1
    assert data.automatic["prompts"] == 2 and data.automatic["pairs"] == len(auto)
    first = next(p for p in auto if p.chosen_id.startswith(liked))
    assert first.chosen == f"{FACT} [1]" and first.chosen_id == f"{liked}:grounded"
    assert first.rejected_id.startswith(f"{liked}:sample-") and first.weight == 0.5
    assert first.prompt == store.get(liked).prompt
    assert all(p.chosen != f"{FACT} [1]" for p in auto if p.chosen_id.startswith(disliked))
    assert data.stats()["dpo_pair_kinds"]["automatic"] == len(auto)

    outcome = run_training(settings, overrides={"max_steps": 1}, evaluate=False)
    dataset = registry.get(outcome.version_id).hyperparameters["dataset"]
    assert dataset["train_pair_kinds"]["automatic"] >= 1 and dataset["train_pair_kinds"]["same_question"] == 2
    assert dataset["automatic_pairs"]["pairs"] == dataset["train_pair_kinds"]["automatic"]
    assert dataset["automatic_pairs"]["weight"] == 0.5


def test_disabled_by_default_and_vllm_down_trains_on_human_pairs(make_settings) -> None:
    from engine.process import free_port

    down = {"vllm_url": f"http://127.0.0.1:{free_port()}", "connect_retries": 0}
    settings = make_settings(engine=down, feedback={"heldout_fraction": 0.0})
    assert settings.feedback.auto_pairs.enabled is False
    store = FeedbackStore(settings)
    seed_pairs(store, 2)
    _grounded(store, "How many vacation days do I get?")
    registry = AdapterRegistry(settings, store.sessions)
    data = build_preference_data(store)
    assert with_automatic_pairs(settings, store, data, registry, "dpo") is data  # off: vLLM is not even asked

    enabled = make_settings(engine=down, feedback=_auto_settings())
    added = with_automatic_pairs(enabled, FeedbackStore(enabled), data, registry, "dpo")
    assert added.pairs == data.pairs and added.automatic["pairs"] == 0 and "vLLM" in added.automatic["error"]
    assert with_automatic_pairs(enabled, store, data, registry, "kto") is data  # KTO trains on no pairs


def test_identical_texts_are_never_paired(make_settings) -> None:
    settings = make_settings(feedback=_auto_settings())
    store = FeedbackStore(settings)
    answer = store.get(_grounded(store, "How many vacation days do I get?"))
    embedder = Embedder(settings.rag)
    # the same sentence with another marker, case and spacing: one candidate, so no pair
    same = candidates(answer, [("employees get 25  vacation days per year. [2]", True)], settings, embedder)
    assert [c.origin for c in same] == ["grounded"]
    report = {"too_few_candidates": 0}
    assert rank_pair(answer, same, set(), settings, report) is None
    assert report["too_few_candidates"] == 1
    scored = candidates(answer, [("You get unlimited holidays and a free car.", True), ("I don't know.", True)],
                        settings, embedder)
    by_origin = {c.origin: c.support for c in scored}
    assert by_origin["grounded"] == 1.0 and by_origin["sample-0"] < 0.5 and by_origin["sample-1"] is None


def test_ranking_rules(make_settings) -> None:
    settings = make_settings(feedback=_auto_settings(min_support=0.8, margin=0.3))
    store = FeedbackStore(settings)
    answer = store.get(_grounded(store, "How many vacation days do I get?"))
    good, half, bad = (Candidate("good", "grounded", 1.0), Candidate("half", "sample-0", 0.75),
                       Candidate("bad", "sample-1", 0.0))
    report: dict[str, int] = {"too_few_candidates": 0, "below_min_support": 0, "below_margin": 0}
    pair = rank_pair(answer, [good, half, bad], set(), settings, report)
    assert (pair.chosen, pair.rejected, pair.kind, pair.weight) == ("good", "bad", "automatic", 0.5)
    vetoed = rank_pair(answer, [good, half, bad], {"good"}, settings, report)  # a 👎 text is never chosen
    assert vetoed is None and report["below_min_support"] == 1
    assert rank_pair(answer, [good, Candidate("near", "sample-0", 0.8)], set(), settings, report) is None
    assert report["below_margin"] == 1
    cut = Candidate("good", "grounded", 1.0, complete=False)  # cut off at max_tokens: never chosen
    assert rank_pair(answer, [cut, bad], set(), settings, report) is None  # "bad" was the only one eligible
    assert report["below_min_support"] == 2 and report["too_few_candidates"] == 0
