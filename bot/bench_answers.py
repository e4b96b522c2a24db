"""`ratchet bench answers`: answer quality on a real corpus no one here wrote.

The corpus is a subset of Python's own HTML documentation as Debian ships it (``python3-doc``; the page list
and licence in ``tests/answers/corpus.json``), the questions are ``tests/answers/questions.jsonl`` (direct,
paraphrased, multi-part and unanswerable; evidence verified verbatim by ``tests/answers/verify_corpus.py``).
The pages are ingested into their own collection on the configured Weaviate (unchanged pages are skipped
on the next run); every question goes through the whole pipeline (input rails, retrieval, the routed
model on the configured vLLM, grounding) with the answer cache off. Each shown sentence is checked
against the chunk its citation names; the model's own text (before grounding) is checked too.

JSON lines: one per split — ``train`` (in-sample: the grounding thresholds were tuned on these),
``heldout`` and its ``source_heldout`` part (pages no train question cites) — plus ``all``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.progress import Progress

from bot.answers import Question
from bot.components import Components, call
from bot.pipeline import Pipeline
from engine.errors import RatchetError
from engine.rag import RetrievedChunk, ingest_paths
from engine.settings import Settings
from feedback.answer_quality import ReferenceQuestion, Scored, load_questions, summarise
from guardrails.grounding import evidence_text, sentences

REPO = Path(__file__).resolve().parents[1]
ANSWERS_DIR = REPO / "tests" / "answers"
DEBIAN_DOCS = ("/usr/share/doc/python3/html", "/usr/share/doc/python3-doc/html", "/usr/share/doc/python3.11/html")
BENCH_COLLECTION = "BenchPythonDocs"


class BenchDataError(RatchetError, FileNotFoundError):
    """The benchmark's corpus or questions are missing."""


def docs_dir(configured: Path | None = None) -> Path:
    """The Python docs' html directory (``--docs``, ``$RATCHET_ANSWERS_DOCS``, or Debian's path)."""
    candidates = [configured] if configured else (
        [Path(os.environ["RATCHET_ANSWERS_DOCS"])] if os.environ.get("RATCHET_ANSWERS_DOCS") else
        [Path(p) for p in DEBIAN_DOCS])
    for path in candidates:
        if (path / "library").is_dir():
            return path
    raise BenchDataError(f"the Python docs are not at {candidates[0]}",
                         hint="apt-get install python3-doc (make test installs it), or pass --docs DIR")


def corpus_pages(docs: Path, manifest: Path = ANSWERS_DIR / "corpus.json",
                 cited_by: list[ReferenceQuestion] | None = None) -> list[Path]:
    """The corpus pages; with ``cited_by``, only the pages those questions cite (a quick slice)."""
    pages = [docs / page for page in json.loads(manifest.read_text(encoding="utf-8"))["pages"]]
    if cited_by is not None:
        cited = {q.source for q in cited_by if q.source}
        pages = [p for p in pages if any(str(p).endswith("/" + c) for c in cited)]
    return pages


def ingest_corpus(settings: Settings, pages: list[Path]) -> None:
    """Ingest the corpus pages into the benchmark's collection (unchanged pages are skipped); a page that
    fails is an error, so no figure is computed on part of the corpus."""
    summary = ingest_paths(settings, [str(p) for p in pages], show_progress=True)
    failed = summary.by_status("failed")
    if failed:
        raise BenchDataError(f"{len(failed)} corpus pages failed to ingest: {failed[0].message}")


def bench_settings(base: Settings, data_dir: Path, collection: str = BENCH_COLLECTION) -> Settings:
    """The configured services, a private data dir (feedback store), the corpus collection, no answer cache."""
    return base.model_copy(update={
        "data_dir": data_dir, "database_url": None,
        "engine": base.engine.model_copy(update={"model_dir": base.model_dir}),
        "rag": base.rag.model_copy(update={"collection": collection, "cache_enabled": False}),
    })


async def score_one(parts: Components, pipeline: Pipeline, q: ReferenceQuestion,
                    user: str = "bench") -> tuple[Scored, dict[str, Any]]:
    """Ask ``q`` through the pipeline and score the answer (and the model's own text)."""
    retriever = await parts.retriever()
    retrieval = await retriever.retrieve(q.question, groups=["public"])
    by_id: dict[str, RetrievedChunk] = {c.chunk_id: c for c in retrieval.chunks}
    start = time.perf_counter()
    answer = await pipeline.answer(Question(text=q.question, source="cli", user=user, groups=["public"]))
    seconds = time.perf_counter() - start
    guard = parts.guardrails
    record = parts.feedback.get(answer.answer_id) if answer.answer_id else None
    # the sentences shown as the answer, each with the index (in the prompt) of the chunk it cites
    shown = [] if answer.refused or answer.error or record is None else \
        ((record.guardrails or {}).get("grounding") or {}).get("sentences") or []
    supported = 0
    for sentence in shown:
        source = sentence.get("source")
        chunk_id = record.chunk_ids[source] if isinstance(source, int) and source < len(record.chunk_ids) else None
        chunk = by_id.get(chunk_id) if chunk_id else None
        if chunk is not None and guard is not None and \
                (await call(guard.attribute, sentence["text"], [evidence_text(chunk)])).supported:
            supported += 1
    model_text = (record.guardrails or {}).get("model_text", "") if record is not None else ""
    model_claims = sentences(model_text)
    texts = [evidence_text(c) for c in retrieval.chunks]
    model_supported = 0
    if guard is not None and texts:
        for claim in model_claims:
            model_supported += int((await call(guard.attribute, claim, texts)).supported)
    rail = answer.refusal_rail or ""
    scored = Scored(
        question=q, answer=answer.text, refused=answer.refused and not rail.startswith(("input.", "output.")),
        blocked=answer.refused and rail.startswith(("input.", "output.")), error=answer.error is not None,
        sentences=len(shown), supported=supported, model_sentences=len(model_claims),
        model_supported=model_supported, seconds=seconds,
        retrieved_sources=[_relative(c.source) for c in retrieval.chunks], grounding=answer.grounding)
    return scored, {"id": q.id, "answer_id": answer.answer_id, "split": q.split, "kind": q.kind, "question": q.question, "answer": answer.text,
                    "model_text": model_text, "refusal_rail": answer.refusal_rail, "error": answer.error,
                    "accurate": scored.accurate, "supported": f"{supported}/{len(shown)}",
                    "model_supported": f"{model_supported}/{len(model_claims)}", "grounding": answer.grounding,
                    "expected_source": q.source, "retrieved": scored.retrieved_sources, "seconds": round(seconds, 2)}


def _relative(source: str) -> str:
    marker = "/html/"
    return source.split(marker, 1)[1] if marker in source else source


def rows_by_split(rows: list[Scored]) -> dict[str, list[Scored]]:
    return {"train": [r for r in rows if r.question.split == "train"],
            "heldout": [r for r in rows if r.question.split == "heldout"],
            "source_heldout": [r for r in rows if r.question.source_heldout],
            "all": rows}


async def bench_answers(base: Settings, *, questions_path: Path, docs: Path | None, split: str, limit: int | None,
                        out: Path | None, emit: Callable[[dict], None], cited_pages_only: bool = False,
                        collection: str = BENCH_COLLECTION) -> list[dict]:
    """Ingest the corpus, answer the questions, print one JSON line per split; returns them."""
    questions = [q for q in load_questions(questions_path) if split in ("all", q.split)][:limit]
    # a quick slice: only the pages the chosen questions cite (fewer distractors)
    pages = corpus_pages(docs_dir(docs), cited_by=questions if cited_pages_only else None)
    lines: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="ratchet-bench-answers-") as tmp:
        s = bench_settings(base, Path(tmp), collection=collection)
        s.ensure_dirs()
        ingest_corpus(s, pages)
        parts = Components(s)
        pipeline = Pipeline(s, parts)
        rows: list[Scored] = []
        details: list[dict] = []
        try:
            await pipeline.warm_up()
            with Progress() as progress:
                task = progress.add_task("answering", total=len(questions))
                for q in questions:
                    scored, detail = await score_one(parts, pipeline, q)
                    rows.append(scored)
                    details.append(detail)
                    progress.advance(task)
        finally:
            await pipeline.aclose()
    if out is not None:
        out.write_text("".join(json.dumps(d) + "\n" for d in details), encoding="utf-8")
    for name, subset in rows_by_split(rows).items():
        if not subset:
            continue
        line = {"bench": "answers", "split": name, "in_sample": name == "train",
                "corpus": "python3-doc 3.11 (real, not written here)", "model": s.engine.served_model_name,
                **summarise(subset)}
        emit(line)
        lines.append(line)
    return lines
