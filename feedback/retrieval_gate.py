"""The retrieval gate: a trained embedder or reranker serves only if it finds the right documents more often.

Held-out questions are those of the retrieval data's held-out split (never trained on); the right documents of
a question are those of its cited chunks. Candidate and production retrieve through the ordinary ``Retriever``
(hybrid search, rerank), pinned to the candidate's collection or reranker. A candidate embedder is evaluated on
its own re-embedded collection, built here (the same build a promotion then switches to; a rejected candidate's
collection is deleted).

Checks (thresholds in ``feedback.retrieval``): enough held-out questions; held-out recall@5 gain ≥
``gate_min_recall_gain``; MRR gain ≥ ``gate_min_mrr_gain``; recall@1 drop ≤ ``gate_max_recall_at_1_drop``; and,
when the caller passes the answer benchmark's questions, recall@5 on them drops by at most
``gate_max_benchmark_drop`` (recorded as not run otherwise).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from engine.logs import get_logger
from engine.rag import collections
from engine.rag.evaluate import DEPTH, summarise
from engine.rag.live import Pin
from engine.rag.retriever import Retriever
from engine.rag.weaviate_client import WeaviateStore
from engine.retrieval_models import EMBEDDER, RetrievalVersion
from engine.retrieval_registry import RetrievalRegistry, load_embedder
from engine.settings import Settings
from feedback.gate import Check
from feedback.retrieval_data import RetrievalData

log = get_logger(__name__)


@dataclass(frozen=True)
class RetrievalQuestion:
    """A question and the documents (ids) that answer it."""

    query: str
    documents: frozenset[str]


@dataclass
class RetrievalGateReport:
    """The gate's verdict on one retrieval model version (stored with the version)."""

    version: str
    kind: str
    passed: bool
    checks: list[Check]
    candidate: dict[str, Any] = field(default_factory=dict)
    production: dict[str, Any] = field(default_factory=dict)
    benchmark: dict[str, Any] = field(default_factory=dict)
    collection: str | None = None
    build: dict[str, Any] = field(default_factory=dict)  # the candidate embedder's re-embed (chunks, seconds)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def heldout_questions(data: RetrievalData) -> list[RetrievalQuestion]:
    """The held-out questions with at least one cited chunk, and their documents."""
    return [RetrievalQuestion(e.query, frozenset(data.chunks[c]["document_id"] for c in e.positives))
            for e in data.with_positives("heldout")]


def _rank(documents: Sequence[str], wanted: frozenset[str]) -> int | None:
    for rank, document in enumerate(documents, 1):
        if document in wanted:
            return rank
    return None


async def _measure(retriever: Retriever, questions: Sequence[RetrievalQuestion], tenant: str) -> dict[str, Any]:
    ranks = []
    for q in questions:
        result = await retriever.retrieve(q.query, groups=["public"], tenant=tenant)
        ranks.append(_rank([c.document_id for c in result.chunks], q.documents))
    return summarise(ranks)


def measure(settings: Settings, store: WeaviateStore, questions: Sequence[RetrievalQuestion], *, pin: Pin,
            tenant: str | None = None) -> dict[str, Any]:
    """recall@1, recall@5 and MRR (document level) of ``questions`` retrieved with the pinned models."""
    if not questions:
        return {"n": 0}
    rag = settings.rag.model_copy(update={"top_k": max(DEPTH, settings.rag.top_k), "cache_enabled": False})
    retriever = Retriever(settings.model_copy(update={"rag": rag}), store=store, pin=pin)
    return asyncio.run(_measure(retriever, questions, tenant or settings.rag.default_tenant))


def _pins(version: RetrievalVersion, candidate_collection: str | None) -> tuple[Pin, Pin]:
    production = Pin()
    if version.kind == EMBEDDER:
        return Pin(collection=candidate_collection), production
    return Pin(reranker=version.id), production


def _checks(config, n: int, cand: dict, prod: dict, bench: dict) -> list[Check]:
    def delta(key: str) -> float | None:
        if cand.get(key) is None or prod.get(key) is None:
            return None
        return round(cand[key] - prod[key], 4)

    recall, mrr, r1 = delta("recall_at_5"), delta("mrr"), delta("recall_at_1")
    checks = [
        Check("heldout_questions", n, f">= {config.gate_min_heldout}", n >= config.gate_min_heldout),
        Check("recall_at_5_gain", recall, f">= {config.gate_min_recall_gain}",
              recall is not None and recall >= config.gate_min_recall_gain),
        Check("mrr_gain", mrr, f">= {config.gate_min_mrr_gain}", mrr is not None and mrr >= config.gate_min_mrr_gain),
        Check("recall_at_1_drop", None if r1 is None else -r1, f"<= {config.gate_max_recall_at_1_drop}",
              r1 is not None and -r1 <= config.gate_max_recall_at_1_drop),
    ]
    if bench:
        drop = round(bench["production"]["recall_at_5"] - bench["candidate"]["recall_at_5"], 4)
        checks.append(Check("answer_benchmark_recall_at_5_drop", drop, f"<= {config.gate_max_benchmark_drop}",
                            drop <= config.gate_max_benchmark_drop))
    return checks


def evaluate_retrieval_candidate(settings: Settings, version_id: str, data: RetrievalData, *,
                                 registry: RetrievalRegistry | None = None, store: WeaviateStore | None = None,
                                 benchmark: Sequence[RetrievalQuestion] = (), tenant: str | None = None,
                                 progress: collections.Progress | None = None) -> RetrievalGateReport:
    """Compare a candidate with production on the held-out questions; store and return the report."""
    registry = registry or RetrievalRegistry(settings)
    version = registry.get(version_id)
    config = settings.feedback.retrieval
    own = store is None
    store = store or WeaviateStore(settings.rag)
    try:
        built = None
        if version.kind == EMBEDDER:
            built = collections.build(store, settings.rag.collection, version.id, load_embedder(settings, version),
                                      batch=settings.rag.reembed_batch_size, progress=progress)
        candidate_pin, production_pin = _pins(version, built["collection"] if built else None)
        questions = heldout_questions(data)
        cand = measure(settings, store, questions, pin=candidate_pin, tenant=tenant)
        prod = measure(settings, store, questions, pin=production_pin, tenant=tenant)
        bench = {}
        if benchmark:
            bench = {"candidate": measure(settings, store, benchmark, pin=candidate_pin, tenant=tenant),
                     "production": measure(settings, store, benchmark, pin=production_pin, tenant=tenant)}
        checks = _checks(config, len(questions), cand, prod, bench)
        passed = all(c.passed for c in checks)
        report = RetrievalGateReport(version.id, version.kind, passed, checks, candidate=cand, production=prod,
                                     benchmark=bench, collection=built["collection"] if built else None,
                                     build=built or {})
        if built and not passed:
            store.drop(built["collection"])  # a rejected embedder never serves: its vectors are not kept
    finally:
        if own:
            store.close()
    registry.set_gate_report(version.id, report.as_dict())
    log.info("retrieval_gate.done", version=version.id, passed=report.passed, candidate=cand, production=prod,
             benchmark=bench, failed=[c.name for c in report.checks if not c.passed])
    return report
