"""A small slice of `ratchet bench loop` on the real corpus, real services, real training.

Six train questions are asked and voted on by simulated employees, an adapter is trained for one step on the
preference data the store yields (and a second one on the flipped preferences), and the gate judges both on
three held-out questions: every figure the full benchmark prints is computed from real generations, and the
gate's verdicts are booleans. One step of training cannot show the improvement; the full benchmark measures
that. The prompts are the pipeline's real ones (five chunks of real pages, ~1,200 tokens), so the training
length must hold them.
"""

from __future__ import annotations

import json
import uuid

import pytest

from bot.bench_answers import ANSWERS_DIR
from bot.bench_loop import bench_loop
from feedback.answer_quality import load_questions

KEYS = {"answer_accuracy_delta", "supported_sentence_rate_delta", "worst_other_drop", "gate_passed",
        "flipped_votes_rejected", "answer_accuracy_before", "answer_accuracy_after",
        "supported_sentence_rate_before", "supported_sentence_rate_after", "votes", "dpo_pairs"}


@pytest.fixture
def loop_questions(tmp_path):
    questions = load_questions(ANSWERS_DIR / "questions.jsonl")
    chosen = {q.id for q in [q for q in questions if q.answerable and q.split == "train"][:6]
              + [q for q in questions if q.answerable and q.split == "heldout"][:3]}
    lines = [line for line in (ANSWERS_DIR / "questions.jsonl").read_text().splitlines()
             if line.strip() and json.loads(line)["id"] in chosen]
    path = tmp_path / "loop.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
@pytest.mark.vllm
@pytest.mark.weaviate
async def test_bench_loop_slice(make_settings, vllm_url, weaviate_endpoint, loop_questions, tmp_path) -> None:
    settings = make_settings(engine={"vllm_url": vllm_url}, rag={
        "weaviate_url": weaviate_endpoint["url"], "weaviate_host": weaviate_endpoint["host"],
        "weaviate_http_port": weaviate_endpoint["http_port"], "weaviate_grpc_port": weaviate_endpoint["grpc_port"]},
        bot={"service_timeout_s": 60.0, "answer_max_tokens": 48},
        # every preference pair trains (the gate's reward check then has no held-out pairs and fails: a slice
        # cannot pass the gate, it shows the figures are computed)
        feedback={"gate_generation_max_tokens": 32, "heldout_fraction": 0.0})
    result = await bench_loop(settings, questions_path=loop_questions, docs=None, work=tmp_path / "work",
                              overrides={"max_steps": 1, "batch_size": 1, "grad_accum": 1}, train_limit=None,
                              heldout_limit=None, flipped=True, emit=lambda _: None, concurrency=2,
                              cited_pages_only=True, collection=f"LoopSlice{uuid.uuid4().hex[:8]}")
    assert KEYS <= set(result), KEYS - set(result)
    assert sum(result["votes"].values()) == 6 and result["train_questions"] == 6
    assert result["votes"]["up"] >= 2, result["votes"]  # extractive answers to answerable questions get liked
    assert result["dpo_pairs"]["train"] >= 2 and result["dpo_pair_kinds"].get("grounded_over_model"), result
    assert result["eval_items"] >= 1 and result["in_sample"] is False
    # real generations were scored before and after: the model's own text has claims to check
    assert result["supported_sentence_rate_before"] is not None and result["mean_chars_after"] > 0
    assert isinstance(result["gate_passed"], bool) and isinstance(result["flipped_votes_rejected"], bool)
    assert result["gate_passed"] is False and "heldout_examples" in result["gate_failed_checks"]
