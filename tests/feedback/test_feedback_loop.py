"""The whole learning loop on the real stack, one test.

questions → answers through the bot's own pipeline (real vLLM, Weaviate, guardrails) → 👎 votes and admin
corrections → preference data → the SCHEDULED job fires on the N-new-examples trigger → TRL DPO training
→ candidate registered with lineage → gate passes → promotion → the next answer is served (and recorded)
by the new version, and held-out implicit-reward accuracy ≥ 0.8.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from sqlalchemy import select

from bot.answers import Question
from bot.pipeline import Pipeline
from engine.rag import ingest_paths
from engine.registry import AdapterRegistry
from feedback import FeedbackStore
from feedback.models import TrainingRun
from feedback.scheduler import build_scheduler
from feedback.synthetic import TOPICS

N_QUESTIONS = 20
ADMIN = "U0ADMIN"


def _fact(i: int) -> tuple[str, str, str]:
    """(document section, question, the corrected answer an admin would give)."""
    topic, code, old = TOPICS[i], 4000 + 53 * i, 7000 + 31 * i
    section = (f"## {topic.title()}\n\nThe old reference number {old} for {topic} was retired last year. "
               f"The current reference number for {topic} is {code}.\n")
    return (section, f"What is the current reference number for {topic}?",
            f"The current reference number for {topic} is {code} [1].")


@pytest.fixture
def loop_settings(make_settings, vllm_url, weaviate_endpoint, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(N_QUESTIONS):
        (corpus / f"topic{i}.md").write_text(f"# Reference numbers\n\n{_fact(i)[0]}")
    rag = {"weaviate_url": weaviate_endpoint["url"], "weaviate_host": weaviate_endpoint["host"],
           "weaviate_http_port": weaviate_endpoint["http_port"], "weaviate_grpc_port": weaviate_endpoint["grpc_port"],
           "collection": f"LoopDocs{uuid.uuid4().hex[:8]}", "cache_enabled": False, "min_score": 0.0, "top_k": 2}
    settings = make_settings(
        engine={"vllm_url": vllm_url, "temperature": 0.0}, rag=rag,
        bot={"answer_max_tokens": 24, "service_timeout_s": 120.0},
        admin={"admin_user_ids": [ADMIN]},
        guardrails={"enabled": False},  # rails have their own tests; here they would only cost CPU time
        # with this salt 5 of the 20 questions are held out
        feedback={"heldout_fraction": 0.25, "split_salt": "loop-test", "gate_min_heldout": 4,
                  "train_min_new_examples": 2 * N_QUESTIONS, "train_check_interval_s": 2,
                  "training": {"learning_rate": 2e-4, "max_length": 256, "batch_size": 4, "epochs": 1.0},
                  },
    )
    ingest_paths(settings, [corpus], show_progress=False)
    return settings


@pytest.mark.slow
@pytest.mark.vllm
@pytest.mark.weaviate
async def test_votes_become_a_promoted_adapter(loop_settings) -> None:
    settings = loop_settings
    store = FeedbackStore(settings)
    pipeline = Pipeline(settings)
    scheduler = build_scheduler(settings)
    scheduler.start()
    try:
        # questions → answers through the bot's own code path, each recorded in the store
        answer_ids = []
        for i in range(N_QUESTIONS):
            answer = await pipeline.answer(Question(text=_fact(i)[1], user=f"U{i}", channel="C1", source="slack",
                                                    thread_ts=f"{i}.0"))
            assert answer.answer_id and answer.adapter is None, answer.error
            answer_ids.append(answer.answer_id)
        assert len(store.recent_answers(limit=100)) == N_QUESTIONS
        # votes: users dislike the base answers, an admin supplies the right one
        for i, aid in enumerate(answer_ids):
            await asyncio.to_thread(store.record_vote, aid, f"U{i}", -1, "slack")
            await asyncio.to_thread(store.record_correction, aid, _fact(i)[2], actor=ADMIN)
        # the scheduled N-new-examples job picks it up
        run = await _wait_for_run(store, timeout_s=840)
    finally:
        scheduler.shutdown(wait=True)
    assert run.status == "succeeded", run.error
    assert run.trigger == "new_examples"
    registry = AdapterRegistry(settings)
    version = registry.get(run.version_id)
    assert version.status == "candidate" and version.dataset_snapshot_id.startswith("ds-")
    lineage = version.hyperparameters
    assert lineage["dataset"]["train_example_ids"] and lineage["dataset"]["heldout_example_ids"]
    assert not set(lineage["dataset"]["train_example_ids"]) & set(lineage["dataset"]["heldout_example_ids"])
    assert lineage["lora_r"] == 16 and lineage["base_model"] == str(settings.model_dir)
    assert version.metrics["steps"] >= 1 and version.metrics["duration_s"] > 0
    report = version.gate_report
    assert report["passed"], json.dumps({k: report[k] for k in ("checks", "generation")}, indent=1)[:4000]
    assert report["heldout"]["reward_accuracy"] >= 0.8
    assert report["generation"]["candidate"]["n"] >= 1 and report["generation"]["deltas"]
    assert not list((settings.data_dir / "training").glob(".training-*")), "temporary training dir left behind"

    # the same votes reversed (users rewarding the wrong answers) train an adapter the gate must reject
    from engine.llm_client import LLMClient
    from feedback.datasets import build_preference_data
    from feedback.gate import evaluate_candidate
    from feedback.jobs import train_and_register
    from feedback.training import training_config

    flipped_data = build_preference_data(store).flipped()
    flipped = train_and_register(settings, flipped_data, training_config(settings), registry, notes="flipped votes")
    async with LLMClient.from_settings(settings.engine) as client:
        flipped_report = await evaluate_candidate(settings, flipped.id, flipped_data, client, registry=registry)
    assert not flipped_report.passed, flipped_report.summary()

    from bot.admin_actions import AdminActions
    from engine.llm_client import LLMClient

    async with LLMClient.from_settings(settings.engine) as client:
        await AdminActions(registry, client).promote(version.id, actor=f"slack:{ADMIN}")
    assert registry.aliases()["production"][0] == version.id
    answer = await pipeline.answer(Question(text=_fact(0)[1], user="U99", channel="C1", source="slack",
                                            thread_ts="99.0"))
    await pipeline.aclose()
    assert answer.adapter == version.id
    assert store.get(answer.answer_id).adapter_version == version.id


async def _wait_for_run(store: FeedbackStore, timeout_s: float) -> TrainingRun:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with store.sessions() as s:
            run = s.scalar(select(TrainingRun).where(TrainingRun.status != "running").order_by(TrainingRun.id.desc()))
        if run is not None:
            return run
        await asyncio.sleep(2)
    raise AssertionError(f"no training finished within {timeout_s} s")
