"""`ratchet bench retrieval-loop`: retrieval that learns from votes, measured on held-out questions.

1. The answer benchmark's corpus (Python's docs from ``python3-doc``) is ingested with the packaged embedding
   model into a collection of its own; held-out recall@1/@5 and MRR of the source page are measured with the
   production retrieval (hybrid + fallback rerank) and with the packaged model's embedding alone.
2. Simulated employees ask the *train* questions; each answer cites the retrieved chunks of the page the
   reference answer comes from (a deterministic voter: it knows each question's source page and evidence) and is
   voted 👍 when it cites one, else 👎 — and an admin then records a 👍 correction citing the page's chunk that holds
   the evidence. No language model is involved: only retrieval learns here.
3. Retrieval data is built from the store as the scheduled job builds it; an embedder and a reranker are trained,
   registered and gated (feedback held-out split + the answer benchmark's held-out questions). The same data with
   shuffled positives trains a second pair, which the gate must reject (``shuffled_rejected``).
4. The trained embedder is promoted while a client keeps searching: the corpus is re-embedded into a new collection
   and the alias switched; search p95 and failed queries during the swap, re-embed seconds per 1k chunks.
5. Held-out figures after the promotion (embedder and reranker in production). One JSON line.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.progress import Progress

from engine.rag import collections
from engine.rag.evaluate import docs_dir, load_manifest
from engine.rag.ingest import document_id_for, ingest_paths
from engine.rag.live import Pin
from engine.rag.retriever import Retriever
from engine.rag.weaviate_client import WeaviateStore
from engine.retrieval_models import EMBEDDER, RERANKER
from engine.retrieval_registry import RetrievalRegistry
from engine.settings import Settings
from feedback.answer_quality import ReferenceQuestion, load_questions
from feedback.retrieval_data import build_retrieval_data
from feedback.retrieval_gate import RetrievalQuestion, measure
from feedback.retrieval_jobs import train_and_gate
from feedback.store import AnswerRecord, FeedbackStore

_SPACE = re.compile(r"\s+")


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


def benchmark_questions(questions: list[ReferenceQuestion], root: Path, split: str) -> list[RetrievalQuestion]:
    """Answerable questions of one split with the document id of their source page."""
    return [RetrievalQuestion(q.question, frozenset({document_id_for(str((root / q.source).resolve()))}))
            for q in questions if q.source and q.split == split]


def _evidence_chunk(store: WeaviateStore, physical: str, tenant: str, document_id: str,
                    evidence: list[str]) -> dict | None:
    """The chunk of a page that holds (most of) the evidence — what an admin would cite."""
    from weaviate.classes.query import Filter

    handle = store.chunks(physical, tenant, create=False)
    objects = handle.query.fetch_objects(filters=Filter.by_property("document_id").equal(document_id),
                                         limit=500).objects
    wanted = [_norm(e) for e in evidence]
    best = max(objects, key=lambda o: (sum(w in _norm(o.properties["text"]) for w in wanted),
                                       -o.properties.get("position", 0)), default=None)
    return best.properties if best is not None else None


def _record(feedback: FeedbackStore, q: ReferenceQuestion, chunk_ids: list[str], cited: list[int], *,
            correction_of: str | None = None) -> str:
    grounding = {"sentences": [{"text": q.reference or q.question, "source": i} for i in cited]}
    # the text stands for what the model wrote from these chunks (two answers from other chunks differ)
    text = q.reference if correction_of else f"answer from {', '.join(chunk_ids[i] for i in cited) or 'no source'}"
    record = AnswerRecord(
        question=q.question, standalone_query=None, history=[], chunk_ids=chunk_ids, chunk_hashes=[],
        prompt=[{"role": "user", "content": q.question}], answer=text, adapter_version=None,
        alias=None, sampling={}, guardrails={"grounding": grounding}, timings_ms={},
        source="admin" if correction_of else "test")
    return feedback.record_answer(record, correction_of=correction_of)


async def simulate_votes(settings: Settings, store: WeaviateStore, feedback: FeedbackStore,
                         questions: list[ReferenceQuestion], root: Path, tenant: str) -> dict[str, int]:
    """Ask each question, cite the source page's retrieved chunks, vote; correct the 👎 answers (see module doc)."""
    retriever = Retriever(settings, store=store)
    physical = collections.resolve(store, settings.rag.collection)
    counts = {"up": 0, "down": 0, "corrections": 0}
    with Progress() as bar:
        task = bar.add_task("simulated votes", total=len(questions))
        for i, q in enumerate(questions):
            wanted = document_id_for(str((root / q.source).resolve()))
            result = await retriever.retrieve(q.question, groups=["public"], tenant=tenant)
            ids = [c.chunk_id for c in result.chunks]
            evidence = [_norm(e) for e in q.evidence]
            right = [k for k, c in enumerate(result.chunks) if c.document_id == wanted]
            cited = [k for k in right if any(e in _norm(result.chunks[k].text) for e in evidence)] or right[:1]
            answer_id = _record(feedback, q, ids, cited)
            if cited:
                feedback.record_vote(answer_id, f"sim-{i}", 1, "test")
                counts["up"] += 1
            else:
                feedback.record_vote(answer_id, f"sim-{i}", -1, "test")
                counts["down"] += 1
                chunk = _evidence_chunk(store, physical, tenant, wanted, q.evidence)
                if chunk is not None:
                    corrected = _record(feedback, q, [chunk["chunk_id"]], [0], correction_of=answer_id)
                    feedback.record_vote(corrected, "sim-admin", 1, "admin")
                    counts["corrections"] += 1
            bar.advance(task)
    return counts


class SearchLoad:
    """A client that keeps searching (following production) until stopped: latencies and failures."""

    def __init__(self, settings: Settings, questions: list[RetrievalQuestion], tenant: str) -> None:
        self.settings, self.questions, self.tenant = settings, questions, tenant
        self.latencies_ms: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="search-load", daemon=True)

    def _loop(self) -> None:
        store = WeaviateStore(self.settings.rag)
        retriever = Retriever(self.settings, store=store)
        i = 0
        try:
            while not self._stop.is_set():
                q = self.questions[i % len(self.questions)]
                started = time.perf_counter()
                try:
                    result = asyncio.run(retriever.retrieve(q.query, groups=["public"], tenant=self.tenant))
                    if not result.chunks:
                        raise RuntimeError("no chunks")
                    self.latencies_ms.append((time.perf_counter() - started) * 1000)
                except Exception as exc:  # noqa: BLE001 - counted: a failed query during the swap
                    self.failures.append(f"{type(exc).__name__}: {exc}"[:200])
                i += 1
        finally:
            store.close()

    def __enter__(self) -> SearchLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def p95_ms(self) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return round(ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))], 1)


def _figures(prefix: str, m: dict[str, Any]) -> dict[str, Any]:
    return {f"{key}_{prefix}": m.get(key) for key in ("recall_at_1", "recall_at_5", "mrr")}


def bench_retrieval_loop(base: Settings, *, questions_path: Path, manifest_path: Path, docs: Path | None = None,
                         train_limit: int | None = None, pages: list[str] | None = None, shuffled: bool = True,
                         keep: bool = False, emit: Callable[[dict], None] = print) -> dict[str, Any]:
    """Run the loop (module doc); emit and return one JSON object."""
    started = time.perf_counter()
    manifest = load_manifest(manifest_path)
    root = docs_dir(manifest, docs)
    questions = load_questions(questions_path)
    if pages is not None:
        questions = [q for q in questions if q.source in pages]
    train = [q for q in questions if q.source and q.split == "train"][:train_limit]
    heldout = benchmark_questions(questions, root, "heldout")
    logical, tenant = f"BenchRetrievalLoop{uuid.uuid4().hex[:8]}", "bench"
    result: dict[str, Any] = {"bench": "retrieval-loop", "corpus": manifest.get("name"),
                              "train_questions": len(train), "heldout_questions": len(heldout)}
    with tempfile.TemporaryDirectory(prefix="ratchet-bench-retrieval-") as tmp:
        s = base.model_copy(update={
            "data_dir": Path(tmp), "database_url": None,
            "rag": base.rag.model_copy(update={"collection": logical, "default_tenant": tenant, "cache_enabled": False,
                                               "models_refresh_s": 0.5}),
        })
        s.ensure_dirs()
        store = WeaviateStore(s.rag)
        try:
            result.update(_run(s, store, root, manifest, pages, train, heldout, tenant, shuffled))
        finally:
            if not keep:
                for c in collections.physical_collections(store, logical):
                    store.drop(c.name)
                if store.client.alias.exists(alias_name=collections.alias_name(logical)):
                    store.client.alias.delete(alias_name=collections.alias_name(logical))
            store.close()
    result["total_s"] = round(time.perf_counter() - started, 1)
    result["note"] = ("held-out = the answer benchmark's held-out questions (never voted on); recall is of the "
                      "source page; votes are simulated from the reference sources, no language model is involved")
    emit(result)
    return result


def _run(s: Settings, store: WeaviateStore, root: Path, manifest: dict, pages: list[str] | None,
         train: list[ReferenceQuestion], heldout: list[RetrievalQuestion], tenant: str,
         shuffled: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    summary = ingest_paths(s, [root / p for p in (pages or manifest["pages"])], store=store, show_progress=False)
    out["chunks"] = summary.chunks_written
    before = measure(s, store, heldout, pin=Pin())
    out.update(_figures("before", before))
    embedding_only = s.model_copy(update={"rag": s.rag.model_copy(update={"alpha": 1.0, "rerank_keyword_weight": 0.0,
                                                                        "reranker_model": None})})
    packaged = measure(embedding_only, store, heldout, pin=Pin(reranker=None))
    out.update(_figures("packaged_embedding_only", packaged))

    feedback = FeedbackStore(s)
    t = time.perf_counter()
    out["votes"] = asyncio.run(simulate_votes(s, store, feedback, train, root, tenant))
    out["simulate_s"] = round(time.perf_counter() - t, 1)
    data = build_retrieval_data(feedback, store)
    out["data"] = {k: v for k, v in data.stats().items() if k != "snapshot_id"}
    registry = RetrievalRegistry(s)

    t = time.perf_counter()
    trained = {o.kind: o for o in train_and_gate(s, data, store=store, registry=registry, notes="bench: votes",
                                                  benchmark=heldout, tenant=tenant)}
    out["train_and_gate_s"] = round(time.perf_counter() - t, 1)
    for kind, o in trained.items():
        out[f"{kind}_version"] = o.version_id
        out[f"{kind}_gate_passed"] = (o.gate or {}).get("passed")
        out[f"{kind}_train_s"] = o.metrics.get("duration_s")
        out[f"{kind}_gate_failed_checks"] = [c["name"] for c in (o.gate or {}).get("checks", []) if not c["passed"]]
        out[f"{kind}_heldout_gate"] = {"candidate": (o.gate or {}).get("candidate"),
                                       "production": (o.gate or {}).get("production")}
    if shuffled:
        bad = train_and_gate(s, data.shuffled(), store=store, registry=registry, notes="bench: shuffled positives",
                             tenant=tenant)
        out["shuffled_gate_passed"] = {o.kind: (o.gate or {}).get("passed") for o in bad}
        out["shuffled_rejected"] = all(o.gate is not None and not o.gate["passed"] for o in bad) and len(bad) == 2

    out.update(_swap(s, store, registry, trained, heldout, tenant))
    after = measure(s, store, heldout, pin=Pin())
    out.update(_figures("after", after))
    for key in ("recall_at_1", "recall_at_5", "mrr"):
        if before.get(key) is not None and after.get(key) is not None:
            out[f"{key}_delta"] = round(after[key] - before[key], 3)
    out["recall_at_5_delta_vs_packaged_embedding_only"] = round(after["recall_at_5"] - packaged["recall_at_5"], 3)
    out["production"] = {k: registry.production(k) for k in (EMBEDDER, RERANKER)}
    return out


def _swap(s: Settings, store: WeaviateStore, registry: RetrievalRegistry, trained: dict, heldout, tenant: str):
    """Promote the trained models while a client searches: the embedder's collection is re-embedded afresh."""
    out: dict[str, Any] = {}
    embedder = trained.get(EMBEDDER)
    reranker = trained.get(RERANKER)
    with SearchLoad(s, heldout, tenant) as load:
        time.sleep(1.0)
        if embedder is not None and embedder.version_id:
            version = registry.get(embedder.version_id)
            if (version.gate_report or {}).get("collection") and \
                    store.client.collections.exists(version.gate_report["collection"]):
                store.drop(version.gate_report["collection"])  # measure a whole re-embed under load
            registry.promote(version.id, actor="bench", force=not (version.gate_report or {}).get("passed"),
                             store=store)
            out["reembed_chunks"] = registry.last_build["chunks"]
            out["reembed_s_per_1k_chunks"] = registry.last_build["seconds_per_1k_chunks"]
            out["embedder_forced"] = not (version.gate_report or {}).get("passed")
        if reranker is not None and reranker.version_id:
            rr = registry.get(reranker.version_id)
            registry.promote(rr.id, actor="bench", force=not (rr.gate_report or {}).get("passed"))
            out["reranker_forced"] = not (rr.gate_report or {}).get("passed")
        time.sleep(2 * s.rag.models_refresh_s + 1.0)  # the client follows the switch
    out["searches_during_swap"] = len(load.latencies_ms) + len(load.failures)
    out["failed_queries_during_swap"] = len(load.failures)
    out["failures_sample"] = load.failures[:3]
    out["search_p95_ms_during_swap"] = load.p95_ms()
    return out
