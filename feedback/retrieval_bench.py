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
import contextlib
import json
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.progress import Progress

from engine.rag import collections
from engine.rag.evaluate import _percentile, docs_dir, load_manifest
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



def _figures(prefix: str, m: dict[str, Any]) -> dict[str, Any]:
    return {f"{key}_{prefix}": m.get(key) for key in ("recall_at_1", "recall_at_5", "mrr")}


STAGES = ("setup", "embedder", "reranker", "shuffled_embedder", "shuffled_reranker")
STATE = "state.json"


@dataclass
class _Context:
    settings: Settings
    store: WeaviateStore
    root: Path
    pages: list[str]
    train: list[ReferenceQuestion]
    heldout: list[RetrievalQuestion]
    tenant: str


def bench_retrieval_loop(base: Settings, *, questions_path: Path, manifest_path: Path, docs: Path | None = None,
                         train_limit: int | None = None, pages: list[str] | None = None, shuffled: bool = True,
                         work: Path | None = None, stage: str | None = None,
                         emit: Callable[[dict], None] = print) -> dict[str, Any]:
    """Run the loop (module doc); emit and return one JSON object.

    With ``work`` the run can be split into ``stage`` steps (``STAGES``), one command each
    (a shared machine's lock is then held for a part at a time): the store, the registry and the figures so far stay
    in ``work``; the JSON line comes with the last stage.
    """
    manifest = load_manifest(manifest_path)
    root = docs_dir(manifest, docs)
    questions = load_questions(questions_path)
    if pages is not None:
        questions = [q for q in questions if q.source in pages]
    with contextlib.ExitStack() as stack:
        where = work or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ratchet-bench-retrieval-")))
        where.mkdir(parents=True, exist_ok=True)
        state_path = where / STATE
        out: dict[str, Any] = json.loads(state_path.read_text()) if state_path.exists() else {
            "bench": "retrieval-loop", "corpus": manifest.get("name"), "done": [], "seconds": 0.0,
            "collection": f"BenchRetrievalLoop{uuid.uuid4().hex[:8]}"}
        todo = [stage] if stage else [st for st in STAGES if st not in out["done"]]
        s = base.model_copy(update={
            "data_dir": where, "database_url": None,
            "rag": base.rag.model_copy(update={"collection": out["collection"], "default_tenant": "bench",
                                               "cache_enabled": False, "models_refresh_s": 0.5}),
        })
        s.ensure_dirs()
        train = [q for q in questions if q.source and q.split == "train"][:train_limit]
        ctx = _Context(s, WeaviateStore(s.rag), root, pages or manifest["pages"], train,
                       benchmark_questions(questions, root, "heldout"), "bench")
        out.update(train_questions=len(train), heldout_questions=len(ctx.heldout), pages=len(ctx.pages))
        finished = False
        try:
            for name in todo:
                if name.startswith("shuffled") and not shuffled:
                    continue
                started = time.perf_counter()
                if name == "setup":
                    _setup(ctx, out)
                elif name.startswith("shuffled_"):
                    _shuffled(ctx, out, name.removeprefix("shuffled_"))
                else:
                    _trained(ctx, out, name)
                out["seconds"] += time.perf_counter() - started
                out["done"] = sorted(set(out["done"]) | {name}, key=STAGES.index)
                state_path.write_text(json.dumps(out))
            finished = set(STAGES[:3] if not shuffled else STAGES) <= set(out["done"])
            if finished:
                _after(ctx, out)
        finally:
            if finished or work is None:
                _drop_collections(ctx.store, out["collection"])
            ctx.store.close()
    if not finished:
        return out
    out["total_s"] = round(out.pop("seconds"), 1)
    out.pop("done", None)
    out.pop("_latencies_ms", None)
    out["note"] = ("held-out = the answer benchmark's held-out questions (never voted on); recall is of the "
                   "source page; votes are simulated from the reference sources, no language model is involved; "
                   "search latencies during the swap include the training and re-embedding on the same CPU")
    emit(out)
    return out


def _drop_collections(store: WeaviateStore, logical: str) -> None:
    for c in collections.physical_collections(store, logical):
        store.drop(c.name)
    if store.client.alias.exists(alias_name=collections.alias_name(logical)):
        store.client.alias.delete(alias_name=collections.alias_name(logical))


def _setup(ctx: _Context, out: dict[str, Any]) -> None:
    """Ingest, figures before, simulated votes."""
    s, store = ctx.settings, ctx.store
    summary = ingest_paths(s, [ctx.root / p for p in ctx.pages], store=store, show_progress=False)
    out["chunks"] = summary.chunks_written
    out.update(_figures("before", measure(s, store, ctx.heldout, pin=Pin())))
    embedding_only = s.model_copy(update={"rag": s.rag.model_copy(update={"alpha": 1.0, "rerank_keyword_weight": 0.0,
                                                                        "reranker_model": None})})
    out.update(_figures("packaged_embedding_only", measure(embedding_only, store, ctx.heldout, pin=Pin(reranker=None))))
    t = time.perf_counter()
    out["votes"] = asyncio.run(simulate_votes(s, store, FeedbackStore(s), ctx.train, ctx.root, ctx.tenant))
    out["simulate_s"] = round(time.perf_counter() - t, 1)


def _trained(ctx: _Context, out: dict[str, Any], kind: str) -> None:
    """Train and gate one kind on the votes while production serves a searching client; promote it (for an
    embedder: the alias switch)."""
    s, store = ctx.settings, ctx.store
    data = build_retrieval_data(FeedbackStore(s), store)
    out["data"] = {k: v for k, v in data.stats().items() if k != "snapshot_id"}
    registry = RetrievalRegistry(s)
    t = time.perf_counter()
    with SearchLoad(s, ctx.heldout, ctx.tenant) as load:  # production keeps serving while the candidate is
        # trained, the embedder's collection re-embedded (by its gate), and promoted (the alias switch)
        trained = {o.kind: o for o in train_and_gate(s, data, store=store, registry=registry, notes="bench: votes",
                                                      benchmark=ctx.heldout, tenant=ctx.tenant, kinds=[kind])}
        out[f"{kind}_train_and_gate_s"] = round(time.perf_counter() - t, 1)
        out.update(_promote(registry, trained))
        time.sleep(2 * s.rag.models_refresh_s + 1.0)  # the client follows the switch
    latencies = out.pop("_latencies_ms", []) + load.latencies_ms
    out["_latencies_ms"] = latencies
    out["searches_during_swap"] = out.get("searches_during_swap", 0) + len(load.latencies_ms) + len(load.failures)
    out["failed_queries_during_swap"] = out.get("failed_queries_during_swap", 0) + len(load.failures)
    out["failures_sample"] = (out.get("failures_sample") or []) + load.failures[:3]
    out["search_p95_ms_during_swap"] = _p95(latencies)
    for kind, o in trained.items():
        gate = o.gate or {}
        out[f"{kind}_version"] = o.version_id
        out[f"{kind}_gate_passed"] = gate.get("passed")
        out[f"{kind}_train_s"] = o.metrics.get("duration_s")
        out[f"{kind}_gate_failed_checks"] = [c["name"] for c in gate.get("checks", []) if not c["passed"]]
        out[f"{kind}_gate"] = {k: gate.get(k) for k in ("candidate", "production", "benchmark")}
    if kind == EMBEDDER:
        out["reembed_chunks"] = out.get("chunks")
        out["reembed_s_per_1k_chunks"] = _reembed_rate(registry, trained)


def _p95(values: list[float]) -> float | None:
    return round(_percentile(values, 0.95), 1) if values else None


def _shuffled(ctx: _Context, out: dict[str, Any], kind: str) -> None:
    """The same votes with shuffled positives: the gate must reject the model."""
    data = build_retrieval_data(FeedbackStore(ctx.settings), ctx.store).shuffled()
    bad = train_and_gate(ctx.settings, data, store=ctx.store, registry=RetrievalRegistry(ctx.settings),
                         notes="bench: shuffled positives", tenant=ctx.tenant, kinds=[kind])
    passed = out.setdefault("shuffled_gate_passed", {})
    passed.update({o.kind: (o.gate or {}).get("passed") for o in bad})
    out.setdefault("shuffled_gate", {}).update({o.kind: (o.gate or {}).get("candidate") for o in bad})
    out["shuffled_rejected"] = len(passed) == 2 and not any(passed.values()) and None not in passed.values()


def _after(ctx: _Context, out: dict[str, Any]) -> None:
    """Held-out figures with the promoted models, and the deltas."""
    out.update(_figures("after", measure(ctx.settings, ctx.store, ctx.heldout, pin=Pin())))
    for key in ("recall_at_1", "recall_at_5", "mrr"):
        if out.get(f"{key}_before") is not None and out.get(f"{key}_after") is not None:
            out[f"{key}_delta"] = round(out[f"{key}_after"] - out[f"{key}_before"], 3)
    out["recall_at_5_delta_vs_packaged_embedding_only"] = round(
        out["recall_at_5_after"] - out["recall_at_5_packaged_embedding_only"], 3)
    registry = RetrievalRegistry(ctx.settings)
    out["production"] = {k: registry.production(k) for k in (EMBEDDER, RERANKER)}


def _promote(registry: RetrievalRegistry, trained: dict) -> dict[str, Any]:
    """Promote the trained models (forced, and said so, when their gate failed: the bench measures them anyway)."""
    out = {}
    for kind in (EMBEDDER, RERANKER):
        outcome = trained.get(kind)
        if outcome is None or not outcome.version_id:
            continue
        passed = bool((outcome.gate or {}).get("passed"))
        registry.promote(outcome.version_id, actor="bench", force=not passed)
        out[f"{kind}_forced"] = not passed
    return out


def _reembed_rate(registry: RetrievalRegistry, trained: dict) -> float | None:
    """Seconds per 1k chunks of the embedder gate's re-embed (logged on its collection build)."""
    outcome = trained.get(EMBEDDER)
    if outcome is None or not outcome.version_id:
        return None
    return (registry.get(outcome.version_id).gate_report or {}).get("build", {}).get("seconds_per_1k_chunks")
