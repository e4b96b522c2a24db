"""Retrieval-only evaluation on a real corpus: is the right source page among the top chunks?

The corpus is a manifest (``corpus.json``: the page list, relative to an html dir) and a question set
(``questions.jsonl``: each answerable question names its ``source`` page and its ``split``) — see
``tests/answers/README.md``. The pages are ingested through the ordinary ``ingest_paths`` into a fresh
collection and tenant of their own (deleted at the end unless ``keep``), then every answerable question
goes through the ordinary ``Retriever.retrieve`` (no history, no rewrite, no answer cache).

Figures, per group of questions (``train``, ``heldout``, and ``source_heldout`` = the held-out questions
whose page has no train question):

- ``recall_at_1`` / ``recall_at_5``: share of questions with a chunk of the right page first / in the first 5;
- ``mrr``: mean reciprocal rank of the first chunk of the right page within the first ``depth`` (10) chunks;
- ``search_p50_ms`` / ``search_p95_ms``: time of a whole retrieval (embed, hybrid search, rerank);
- ``evidence``: how the ``rag.min_score`` check ("enough evidence") judges answerable questions (should be
  true) and unanswerable ones (should be false), all splits together.

Unanswerable questions have no page and count only in ``evidence``. Retrieval settings may be tuned on the train
questions only; the result says so (``tuned_on``), and the train figures are then in-sample.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.errors import RatchetError
from engine.rag.ingest import ingest_paths
from engine.rag.retriever import Retriever
from engine.rag.weaviate_client import WeaviateStore
from engine.settings import Settings

DOCS_ENV = "RATCHET_ANSWERS_DOCS"
DEPTH = 10  # chunks looked at for the MRR
GROUPS = ("train", "heldout", "source_heldout")
TUNED_ON = "train"


class EvaluationError(RatchetError, ValueError):
    """The corpus or question set cannot be used (missing docs, bad manifest)."""


@dataclass
class Question:
    """An answerable question and the page that answers it."""

    id: str
    question: str
    source: str | None  # relative to the docs dir; None = unanswerable
    split: str
    source_heldout: bool

    @property
    def groups(self) -> list[str]:
        """The result groups this question counts in (none for an unanswerable one)."""
        if self.source is None:
            return []
        return [self.split] + (["source_heldout"] if self.source_heldout else [])


def load_questions(path: Path) -> list[Question]:
    """All questions of a ``questions.jsonl`` file (unanswerable ones with ``source`` None)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Question(r["id"], r["question"], r.get("source") or None, r["split"], bool(r.get("source_heldout")))
            for r in rows]


def load_manifest(path: Path) -> dict:
    """The corpus manifest (``pages`` relative to ``html_dir``)."""
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if not manifest.get("pages"):
        raise EvaluationError(f"{path} lists no pages")
    return manifest


def docs_dir(manifest: dict, override: Path | None = None) -> Path:
    """The html dir: ``override``, else ``$RATCHET_ANSWERS_DOCS``, else the manifest's ``html_dir``."""
    chosen = override or os.environ.get(DOCS_ENV) or manifest.get("html_dir")
    if not chosen or not Path(chosen).is_dir():
        raise EvaluationError(f"docs directory {chosen!r} not found; install the corpus package "
                              f"({manifest.get('package', '?')}) or set {DOCS_ENV}")
    return Path(chosen).resolve()


def rank_of(sources: Sequence[str], wanted: str) -> int | None:
    """1-based rank of the first retrieved source that is the wanted page, or None."""
    for rank, source in enumerate(sources, 1):
        if source == wanted:
            return rank
    return None


def summarise(ranks: Sequence[int | None]) -> dict:
    """recall@1, recall@5 and MRR (over ``DEPTH``) of a list of ranks."""
    n = len(ranks)
    if n == 0:
        return {"n": 0}
    return {
        "n": n,
        "recall_at_1": round(sum(1 for r in ranks if r == 1) / n, 3),
        "recall_at_5": round(sum(1 for r in ranks if r is not None and r <= 5) / n, 3),
        "mrr": round(sum(1 / r for r in ranks if r is not None and r <= DEPTH) / n, 3),
    }


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def retrieval_config(settings: Settings) -> dict:
    """The settings that shape retrieval (printed next to the figures)."""
    rag = settings.rag
    return {"alpha": rag.alpha, "candidates": rag.candidates, "reranker": rag.reranker_model or "fallback",
            "rerank_keyword_weight": rag.rerank_keyword_weight,
            "max_chunks_per_document": rag.max_chunks_per_document, "chunk_target_chars": rag.chunk_target_chars,
            "chunk_overlap_chars": rag.chunk_overlap_chars}


@dataclass
class _Answer:
    rank: int | None
    ms: float
    pages: list[str]
    enough: bool


async def _ask_all(retriever: Retriever, questions: Sequence[Question], root: Path, tenant: str) -> list[_Answer]:
    await retriever.retrieve(questions[0].question, groups=["public"], tenant=tenant)  # warm-up
    answers = []
    for q in questions:
        result = await retriever.retrieve(q.question, groups=["public"], tenant=tenant)
        found = [os.path.relpath(c.source, root) for c in result.chunks]
        rank = rank_of(found, q.source) if q.source else None
        answers.append(_Answer(rank, result.timings_ms["total"], found, result.enough_evidence))
    return answers


def evaluate_questions(settings: Settings, questions: Sequence[Question], root: Path, *, tenant: str,
                       store: WeaviateStore) -> tuple[dict, list[dict]]:
    """Ask every question against an ingested collection; returns (figures, one row per question)."""
    retriever = Retriever(settings, store=store)
    try:
        answers = asyncio.run(_ask_all(retriever, questions, root, tenant))
    finally:
        retriever.close()
    figures: dict = {group: summarise([a.rank for q, a in zip(questions, answers) if group in q.groups])
                     for group in GROUPS}
    times = [a.ms for a in answers]
    figures["search_p50_ms"] = round(_percentile(times, 0.5), 1)
    figures["search_p95_ms"] = round(_percentile(times, 0.95), 1)
    answerable = [a.enough for q, a in zip(questions, answers) if q.source]
    unanswerable = [not a.enough for q, a in zip(questions, answers) if not q.source]
    figures["evidence"] = {
        "answerable_enough": round(sum(answerable) / len(answerable), 3) if answerable else None,
        "unanswerable_not_enough": round(sum(unanswerable) / len(unanswerable), 3) if unanswerable else None,
        "min_score": settings.rag.min_score,
    }
    rows = [{"id": q.id, "split": q.split, "source": q.source, "rank": a.rank, "enough": a.enough, "top": a.pages[:5]}
            for q, a in zip(questions, answers)]
    return figures, rows


def evaluate_retrieval(settings: Settings, *, questions_path: Path, manifest_path: Path,
                       docs: Path | None = None, keep: bool = False, details: bool = False,
                       emit: Callable[[dict], None] = print) -> dict:
    """Ingest the corpus into a fresh collection, ask the questions, emit and return the summary line.

    ``details`` also emits one line per question (its rank and the top pages) before the summary.
    """
    manifest = load_manifest(manifest_path)
    root = docs_dir(manifest, docs)
    missing = [p for p in manifest["pages"] if not (root / p).is_file()]
    if missing:
        raise EvaluationError(f"{len(missing)} corpus pages missing under {root}, e.g. {missing[0]}")
    questions = load_questions(questions_path)
    collection, tenant = f"EvalRetrieval{uuid.uuid4().hex[:8]}", "eval"
    rag = settings.rag.model_copy(update={"collection": collection, "cache_enabled": False,
                                          "top_k": max(DEPTH, settings.rag.top_k)})
    settings = settings.model_copy(update={"rag": rag})
    store = WeaviateStore(rag)
    try:
        summary = ingest_paths(settings, [root / p for p in manifest["pages"]], tenant=tenant, store=store,
                               show_progress=False)
        if summary.by_status("failed") or summary.by_status("skipped"):
            bad = (summary.by_status("failed") + summary.by_status("skipped"))[0]
            raise EvaluationError(f"corpus page not ingested: {bad.source}: {bad.message}")
        started = time.perf_counter()
        figures, rows = evaluate_questions(settings, questions, root, tenant=tenant, store=store)
        asked_s = time.perf_counter() - started
    finally:
        if not keep:
            store.drop(collection)
        store.close()
    if details:
        for row in rows:
            emit(row)
    result = {
        "bench": "retrieval", "corpus": manifest.get("name"), "pages": len(manifest["pages"]),
        "chunks": summary.chunks_written, "ingest_s": round(summary.seconds, 1),
        "questions": sum(1 for q in questions if q.source), "unanswerable": sum(1 for q in questions if not q.source),
        **figures, "ask_s": round(asked_s, 1), "depth": DEPTH, "config": retrieval_config(settings),
        "tuned_on": TUNED_ON,
        "note": ("retrieval settings were tuned on the train questions only: train figures are in-sample; "
                 "heldout and source_heldout (held-out pages too) were not looked at while tuning"),
        "collection": collection if keep else None,
    }
    emit(result)
    return result
