"""Prometheus metrics for every stage. Import the metric you update; the admin app exposes them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from engine.logs import get_logger

log = get_logger(__name__)

STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

ANSWERS = Counter("ratchet_answers_total", "Answers produced", ["source", "adapter", "outcome"])
STAGE_SECONDS = Histogram(
    "ratchet_stage_seconds", "Time spent per pipeline stage", ["stage"], buckets=STAGE_BUCKETS
)
TTFT_SECONDS = Histogram("ratchet_ttft_seconds", "Time to first token", ["adapter"], buckets=STAGE_BUCKETS)
TOKENS_PER_SECOND = Gauge("ratchet_tokens_per_second", "Generation speed of the last answer", ["adapter"])
VOTES = Counter("ratchet_votes_total", "Votes recorded", ["value", "source"])
REFUSALS = Counter("ratchet_refusals_total", "Refusals by rail", ["rail"])
SELF_CHECK_UNAVAILABLE = Counter(
    "ratchet_self_check_unavailable_total", "Self-checks that could not run, by rail and what was done (block/allow)",
    ["rail", "action"],
)
ADAPTER_IN_USE = Gauge("ratchet_adapter_in_use", "1 for the version an alias points at", ["alias", "version"])
TRAINING_RUNS = Counter("ratchet_training_runs_total", "Training runs", ["outcome"])
TRAINING_SECONDS = Histogram(
    "ratchet_training_seconds", "Training run duration", buckets=(60, 300, 900, 1800, 3600, 7200, 14400)
)
QUEUE_DEPTH = Gauge("ratchet_queue_depth", "Questions waiting or in progress")
RAG_CACHE_LOOKUPS = Counter("ratchet_rag_cache_lookups_total", "Semantic answer cache lookups", ["outcome"])
RAG_EVIDENCE = Counter("ratchet_rag_retrievals_total", "Retrievals by evidence outcome", ["enough_evidence"])


def observe_answer(source: str, adapter: str | None, timings_ms: dict[str, float], *, refused: bool = False,
                   error: str | None = None, cached: bool = False) -> None:
    """Record one finished answer: the counter (by outcome), each pipeline stage, and the model's TTFT."""
    outcome = "refused" if refused else "error" if error else "cached" if cached else "answered"
    ANSWERS.labels(source=source, adapter=adapter or "base", outcome=outcome).inc()
    for stage, ms in timings_ms.items():
        if stage != "model_ttft":
            STAGE_SECONDS.labels(stage=f"pipeline.{stage}").observe(ms / 1000)
    if "model_ttft" in timings_ms:
        TTFT_SECONDS.labels(adapter=adapter or "base").observe(timings_ms["model_ttft"] / 1000)


def observe_training_run(outcome: str, started_at: datetime | None, finished_at: datetime | None) -> None:
    """Record one finished training run (succeeded / failed / skipped) and its duration."""
    TRAINING_RUNS.labels(outcome=outcome).inc()
    if started_at is not None and finished_at is not None:
        strip = {"tzinfo": None}  # SQLite hands back naive datetimes; both are UTC
        TRAINING_SECONDS.observe((finished_at.replace(**strip) - started_at.replace(**strip)).total_seconds())


@contextmanager
def stage_timer(stage: str) -> Iterator[None]:
    """Observe the time spent inside the block as ``ratchet_stage_seconds{stage=...}``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        STAGE_SECONDS.labels(stage=stage).observe(time.perf_counter() - start)


def serve_metrics(port: int, host: str = "0.0.0.0") -> bool:
    """Serve this process's metrics on ``host:port`` in a background thread; False (logged) if the port is taken."""
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        log.warning("metrics.port_unavailable", port=port, error=str(exc))
        return False
    return True
