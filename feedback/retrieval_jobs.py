"""Retrieval training end to end: lock → retrieval data → train embedder and reranker → register → gate.

Runs in the scheduled job right after adapter training (``feedback.scheduler``), under the same training lock.
A model is trained in a temporary directory under ``<data_dir>/training`` and only moved into the registry
once complete; nothing is promoted here (``ratchet retrieval promote`` does, for a version whose gate passed).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.logs import get_logger
from engine.rag.weaviate_client import WeaviateStore
from engine.retrieval_models import EMBEDDER, RERANKER, RetrievalVersion
from engine.retrieval_registry import RetrievalRegistry
from engine.settings import Settings
from feedback.jobs import training_root
from feedback.lock import TrainingLockHolder
from feedback.retrieval_data import RetrievalData, build_retrieval_data
from feedback.retrieval_gate import RetrievalQuestion, evaluate_retrieval_candidate
from feedback.retrieval_training import TRAINERS, Progress, base_model
from feedback.store import FeedbackStore
from feedback.training import TrainingError

log = get_logger(__name__)


@dataclass
class RetrievalOutcome:
    """What happened to one kind of retrieval model in a run."""

    kind: str
    status: str  # succeeded | skipped | failed
    version_id: str | None = None
    reason: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    gate: dict[str, Any] | None = None


def lineage(settings: Settings, data: RetrievalData) -> dict[str, Any]:
    """Hyperparameters, base model and data snapshot stored with a version."""
    return {**settings.feedback.retrieval.hyperparameters(), "base_model": base_model(settings),
            "dataset": {"snapshot_id": data.snapshot_id, **data.stats(),
                        "train_example_ids": [e.id for e in data.examples["train"]],
                        "heldout_example_ids": [e.id for e in data.examples["heldout"]]}}


def train_and_register_retrieval(settings: Settings, data: RetrievalData, kind: str, registry: RetrievalRegistry, *,
                                 notes: str, progress: Progress | None = None,
                                 before_register: Callable[[], None] | None = None) -> RetrievalVersion:
    """Train one kind of model on ``data`` in a temporary directory and register it as a candidate."""
    root = training_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=".training-retrieval-", dir=root))
    try:
        metrics = TRAINERS[kind](settings, data, settings.feedback.retrieval, workdir, progress=progress)
        if before_register is not None:
            before_register()
        return registry.register(workdir / "model", kind=kind, base_model=metrics.base_model,
                                 dataset_snapshot_id=data.snapshot_id, hyperparameters=lineage(settings, data),
                                 metrics=metrics.as_dict(), notes=notes)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def kinds_to_train(settings: Settings) -> list[str]:
    config = settings.feedback.retrieval
    return [k for k, on in ((EMBEDDER, config.train_embedder), (RERANKER, config.train_reranker)) if on]


def train_and_gate(settings: Settings, data: RetrievalData, *, store: WeaviateStore, registry: RetrievalRegistry,
                   notes: str, benchmark: list[RetrievalQuestion] | tuple = (), progress: Progress | None = None,
                   evaluate: bool = True, before_register: Callable[[], None] | None = None,
                   tenant: str | None = None, kinds: list[str] | None = None) -> list[RetrievalOutcome]:
    """Train, register and gate every enabled kind (or ``kinds``) on ``data``."""
    outcomes = []
    for kind in kinds or kinds_to_train(settings):
        started = time.perf_counter()
        try:
            version = train_and_register_retrieval(settings, data, kind, registry, notes=notes, progress=progress,
                                                   before_register=before_register)
        except TrainingError as exc:
            outcomes.append(RetrievalOutcome(kind, "skipped", reason=str(exc)))
            continue
        metrics = {**version.metrics, "total_s": round(time.perf_counter() - started, 2)}
        gate = None
        if evaluate:
            gate = evaluate_retrieval_candidate(settings, version.id, data, registry=registry, store=store,
                                                benchmark=benchmark, tenant=tenant).as_dict()
        outcomes.append(RetrievalOutcome(kind, "succeeded", version.id, metrics=metrics, gate=gate))
    return outcomes


def run_retrieval_training(settings: Settings, *, trigger: str = "manual", progress: Progress | None = None,
                           evaluate: bool = True) -> list[RetrievalOutcome]:
    """Build retrieval data from all current feedback, train and gate candidates (raises TrainingBusy if a training
    runs). Returns one outcome per kind."""
    store = FeedbackStore(settings)
    with TrainingLockHolder(settings, store.sessions) as lock:
        weaviate = WeaviateStore(settings.rag)
        try:
            data = build_retrieval_data(store, weaviate)
            outcomes = train_and_gate(settings, data, store=weaviate, registry=RetrievalRegistry(settings),
                                      notes=f"trained from feedback ({trigger})", progress=progress,
                                      evaluate=evaluate, before_register=lock.ensure_held)
        finally:
            weaviate.close()
    for outcome in outcomes:
        log.info("retrieval_training.outcome", kind=outcome.kind, status=outcome.status, version=outcome.version_id,
                 reason=outcome.reason, gate_passed=(outcome.gate or {}).get("passed"))
    return outcomes
