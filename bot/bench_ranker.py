"""`ratchet bench sentence-ranker`: train the ranker that picks the sentences of an extractive answer.

The answer benchmark's corpus (``tests/answers``, Python's docs) is ingested as for ``ratchet bench answers``;
every question is retrieved once; each candidate sentence (:func:`guardrails.grounding.candidates`) is
labelled positive when it states one of the question's reference facts. The ranker is fitted on the *train*
questions only, and the quote each question would get (:func:`guardrails.grounding.extract`, the product's own
function) is scored per split — with the fixed formula and with the new ranker side by side. The train line is
in-sample (the ranker saw those questions); ``heldout`` and ``source_heldout`` are not. ``--write`` stores the
artifact with a manifest of its training data (the packaged one is ``guardrails/config/sentence_ranker.json``).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.progress import Progress

from bot.bench_answers import BENCH_COLLECTION, bench_settings, corpus_pages, docs_dir, ingest_corpus
from bot.components import Components
from bot.grounded import extractive_answer
from engine.rag import RetrievedChunk
from engine.rag.embedder import Embedder
from engine.settings import GuardrailSettings, Settings
from feedback.answer_quality import ReferenceQuestion, facts_found, load_questions
from guardrails.grounding import Candidate, candidates, extract
from guardrails.sentence_ranker import SentenceRanker, train_ranker


@dataclass
class Retrieved:
    """One question, what retrieval found for it, and its candidate sentences."""

    question: ReferenceQuestion
    chunks: list[RetrievedChunk]
    enough_evidence: bool
    pool: list[Candidate]


def label(candidate: Candidate, question: ReferenceQuestion) -> int:
    """1 when the sentence states one of the question's reference facts."""
    return int(question.answerable and any(facts_found(candidate.text, [fact]) for fact in question.facts))


def quote_accuracy(rows: list[Retrieved], embedder: Embedder, ranker: SentenceRanker | None,
                   config: GuardrailSettings) -> dict[str, float | int | None]:
    """Share of answerable questions whose quote holds every reference fact; share of unanswerable ones
    that get no quote."""
    right = answerable = refused = unanswerable = 0
    for row in rows:
        quotes = extract(row.question.question, row.chunks, embedder, max_chars=config.extractive_max_chars,
                         min_relevance=config.extractive_min_relevance,
                         quote_min_relevance=config.extractive_quote_min_relevance,
                         ranker=ranker) if row.enough_evidence else []
        if row.question.answerable:
            answerable += 1
            right += int(bool(quotes) and facts_found(extractive_answer(row.chunks, quotes).text, row.question.facts))
        else:
            unanswerable += 1
            refused += int(not quotes)
    return {"questions": len(rows), "quote_accuracy": round(right / answerable, 3) if answerable else None,
            "unanswerable_no_quote_rate": round(refused / unanswerable, 3) if unanswerable else None}


def splits(rows: list[Retrieved]) -> dict[str, list[Retrieved]]:
    return {"train": [r for r in rows if r.question.split == "train"],
            "heldout": [r for r in rows if r.question.split == "heldout"],
            "source_heldout": [r for r in rows if r.question.source_heldout]}


async def bench_sentence_ranker(base: Settings, *, questions_path: Path, docs: Path | None, write: Path | None,
                                regularisation: float, emit: Callable[[dict], None],
                                collection: str = BENCH_COLLECTION) -> SentenceRanker:
    """Retrieve every question, fit the ranker on the train split, print per-split quote accuracy."""
    questions = load_questions(questions_path)
    with tempfile.TemporaryDirectory(prefix="ratchet-bench-ranker-") as tmp:
        s = bench_settings(base, Path(tmp), collection=collection)
        s.ensure_dirs()
        ingest_corpus(s, corpus_pages(docs_dir(docs)))
        parts = Components(s)
        retriever = await parts.retriever()
        embedder = parts.guardrails.embedder
        rows: list[Retrieved] = []
        with Progress() as progress:
            task = progress.add_task("retrieving", total=len(questions))
            for q in questions:
                retrieval = await retriever.retrieve(q.question, groups=["public"])
                rows.append(Retrieved(q, retrieval.chunks, retrieval.enough_evidence,
                                      candidates(q.question, retrieval.chunks, embedder)))
                progress.advance(task)
    train = [(c, r.question) for r in rows if r.question.split == "train" for c in r.pool]
    features = np.vstack([c.features for c, _ in train])
    labels = np.array([label(c, q) for c, q in train])
    config = s.guardrails
    ranker = train_ranker(features, labels, regularisation=regularisation, manifest={
        "trained_on": f"{questions_path.name}, train split: questions over python3-doc 3.11 (real, not written here)",
        "questions": sum(1 for r in rows if r.question.split == "train"), "rows": int(len(labels)),
        "positives": int(labels.sum()), "regularisation": regularisation, "embedder": Path(str(embedder.path)).name,
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    metrics: dict[str, dict] = {}
    for name, subset in splits(rows).items():
        before = quote_accuracy(subset, embedder, None, config)
        after = quote_accuracy(subset, embedder, ranker, config)
        line = {"bench": "sentence_ranker", "split": name, "in_sample": name == "train",
                "questions": before["questions"], "quote_accuracy_formula": before["quote_accuracy"],
                "quote_accuracy_ranker": after["quote_accuracy"],
                "unanswerable_no_quote_rate": after["unanswerable_no_quote_rate"]}
        metrics[name] = line
        emit(line)
    if write is not None:
        ranker = dataclasses.replace(ranker, manifest={**ranker.manifest, "metrics": metrics})
        ranker.save(write)
    return ranker
