"""The stages update the Prometheus metrics that /metrics exposes: votes, answers, stages, TTFT, training."""

from __future__ import annotations

import httpx
from prometheus_client import REGISTRY

from engine.metrics import observe_answer, serve_metrics, stage_timer
from engine.process import free_port
from engine.timeutil import utcnow
from feedback import AnswerRecord, FeedbackStore
from feedback.jobs import _finish
from feedback.models import TrainingRun


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_votes_answers_and_training_runs_are_counted(admin_settings, admin_url) -> None:
    store = FeedbackStore(admin_settings)
    answer_id = store.record_answer(AnswerRecord(
        question="Where is the VPN guide?", standalone_query=None, history=[], chunk_ids=[], chunk_hashes=[],
        prompt=[{"role": "user", "content": "q"}], answer="In the wiki.", adapter_version=None, alias=None,
        sampling={}, guardrails={}, timings_ms={}, source="slack"))
    before = sample("ratchet_votes_total", value="-1", source="slack")
    store.record_vote(answer_id, "U1", -1, "slack")
    assert sample("ratchet_votes_total", value="-1", source="slack") == before + 1

    answers = sample("ratchet_answers_total", source="slack", adapter="ratchet-v9", outcome="refused")
    gens = sample("ratchet_stage_seconds_count", stage="pipeline.generation")
    ttft = sample("ratchet_ttft_seconds_sum", adapter="ratchet-v9")
    observe_answer("slack", "ratchet-v9", {"generation": 800.0, "model_ttft": 120.0, "total": 900.0}, refused=True)
    assert sample("ratchet_answers_total", source="slack", adapter="ratchet-v9", outcome="refused") == answers + 1
    assert sample("ratchet_stage_seconds_count", stage="pipeline.generation") == gens + 1
    assert abs(sample("ratchet_ttft_seconds_sum", adapter="ratchet-v9") - ttft - 0.12) < 1e-9

    runs = sample("ratchet_training_runs_total", outcome="failed")
    durations = sample("ratchet_training_seconds_count")
    with store.sessions.begin() as s:
        run = TrainingRun(trigger="test", method="dpo", status="running", started_at=utcnow())
        s.add(run)
        s.flush()
        run_id = run.id
    _finish(store, run_id, status="failed", error="test")
    assert sample("ratchet_training_runs_total", outcome="failed") == runs + 1
    assert sample("ratchet_training_seconds_count") == durations + 1

    text = httpx.get(admin_url + "/metrics").text
    assert 'ratchet_votes_total{source="slack",value="-1"}' in text
    assert 'ratchet_answers_total{adapter="ratchet-v9",outcome="refused",source="slack"}' in text


def test_stage_timer_observes_even_when_the_block_fails() -> None:
    before = sample("ratchet_stage_seconds_count", stage="slack.update")
    try:
        with stage_timer("slack.update"):
            raise TimeoutError("slack is slow")
    except TimeoutError:
        pass
    assert sample("ratchet_stage_seconds_count", stage="slack.update") == before + 1


def test_a_bot_process_serves_its_own_metrics_and_survives_a_taken_port() -> None:
    port = free_port()
    assert serve_metrics(port, host="127.0.0.1")
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    assert "# TYPE ratchet_queue_depth gauge" in text and "ratchet_answers_total" in text
    assert serve_metrics(port, host="127.0.0.1") is False, "a taken port is logged, not fatal"
