"""A small slice of `ratchet bench answers` on the real corpus (Python's docs from python3-doc), real services.

Four questions (three answerable, one not), only the pages they cite: every figure is computed, nothing
errors, and every sentence shown as an answer is supported by the chunk its citation names.
"""

from __future__ import annotations

import json
import uuid

import pytest

from bot.bench_answers import ANSWERS_DIR, bench_answers
from engine.settings import Settings
from feedback.answer_quality import load_questions
from guardrails import Guardrails

KEYS = {"recall_at_5", "answer_accuracy", "supported_sentence_rate", "confident_wrong_rate",
        "unanswerable_refusal_rate", "false_block_rate", "mean_answer_chars", "p50_s", "p95_s"}


@pytest.fixture
def slice_questions(tmp_path):
    questions = load_questions(ANSWERS_DIR / "questions.jsonl")
    # three held-out questions the input rails let through: the slice checks the answer path; the rails' false
    # refusals of benign questions (e.g. the detector refuses "What's the command to activate a venv on
    # Windows?") are the full benchmark's false_block_rate and `ratchet bench guardrails`' real-corpus figure
    rails = Guardrails(Settings(data_dir=tmp_path / "rails"))
    answerable = [q for q in questions if q.answerable and q.split == "heldout"
                  and rails.precheck_input(q.question).allowed][:3]
    # an unanswerable question about company matters (the full benchmark also reports the few benign questions
    # the input rails refuse, e.g. "What's the guest Wi-Fi password at headquarters?")
    unanswerable = [q for q in questions if q.id == "py311-177"]
    lines = [line for line in (ANSWERS_DIR / "questions.jsonl").read_text().splitlines()
             if line.strip() and json.loads(line)["id"] in {q.id for q in answerable + unanswerable}]
    path = tmp_path / "slice.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_bench_answers_slice(make_settings, vllm_url, weaviate_endpoint, slice_questions, tmp_path) -> None:
    settings = make_settings(engine={"vllm_url": vllm_url}, rag={
        "weaviate_url": weaviate_endpoint["url"], "weaviate_host": weaviate_endpoint["host"],
        "weaviate_http_port": weaviate_endpoint["http_port"], "weaviate_grpc_port": weaviate_endpoint["grpc_port"]},
        bot={"service_timeout_s": 30.0, "answer_max_tokens": 64})
    lines: list[dict] = []
    out = tmp_path / "answers.jsonl"
    await bench_answers(settings, questions_path=slice_questions, docs=None, split="all", limit=None, out=out,
                        emit=lines.append, cited_pages_only=True, collection=f"BenchSlice{uuid.uuid4().hex[:8]}")
    everything = next(line for line in lines if line["split"] == "all")
    assert KEYS <= set(everything) and everything["questions"] == 4
    assert next(line for line in lines if line["split"] == "heldout")["in_sample"] is False
    assert everything["error_rate"] == 0.0 and everything["false_block_rate"] == 0.0
    assert everything["recall_at_5"] is not None and everything["recall_at_5"] >= 2 / 3
    # grounded by construction: each shown sentence is supported by the chunk its citation names
    assert everything["supported_sentence_rate"] in (None, 1.0)
    details = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(details) == 4 and all(d["model_text"] is not None for d in details)
