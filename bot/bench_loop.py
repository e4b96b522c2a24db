"""`ratchet bench loop`: the learning loop shown (or not) to make answers better, on held-out questions.

1. The answer benchmark's corpus (Python's docs from ``python3-doc``) is ingested into its own collection.
2. Simulated employees ask the *train* questions through the whole pipeline and vote the way a careful
   user would (:func:`feedback.answer_quality.vote`: 👍 when the answer has the reference fact and every
   sentence is supported, 👎 when it is wrong or invented); the votes go into the feedback store.
3. Preference data is built from the store exactly as the scheduled job builds it, and an adapter is
   trained with the training settings in force (plus command-line overrides) and registered.
4. The gate evaluates the candidate against production (the base model) on the *held-out* questions — prompts
   built by the real retriever, judged by reference facts and by the support check on the model's own text.
5. The same data with every preference reversed (users rewarding the wrong answers) trains a second
   adapter; the gate must reject it (``flipped_votes_rejected``).

``--work DIR`` keeps the store and corpus between runs: the asking-and-voting step (the slow part) is then
skipped, so training settings can be compared on the same votes; a version already trained there on the same
data with the same settings and gated on the same held-out prompts is reused with its gate report. ``--auto-pairs``
adds automatic preference pairs (:mod:`feedback.auto_pairs`) to the votes' pairs. One JSON line with before/after
figures.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.progress import Progress

from bot.bench_answers import BENCH_COLLECTION, bench_settings, corpus_pages, docs_dir, ingest_corpus, score_one
from bot.components import Components, call
from bot.pipeline import Pipeline
from bot.prompting import build_messages
from engine.llm_client import LLMClient
from engine.registry import AdapterRegistry
from engine.registry_models import AdapterVersion
from engine.settings import Settings, TrainingSettings
from feedback.answer_quality import ReferenceQuestion, load_questions, vote
from feedback.auto_pairs import add_automatic_pairs
from feedback.datasets import PreferenceData, build_preference_data
from feedback.gate import GateReport, evaluate_candidate, items_id, spread
from feedback.jobs import train_and_register
from feedback.quality_eval import QUALITY_METRICS, EvalItem
from guardrails.grounding import evidence_text
from feedback.training import training_config

VOTED_MARK = "votes.done"


async def _ask_and_vote(parts: Components, pipeline: Pipeline, questions: list[ReferenceQuestion],
                        concurrency: int = 1) -> dict[str, int]:
    """Every train question answered and voted on by its simulated asker (``concurrency`` employees asking
    at once, as in a busy workspace); returns the vote counts."""
    counts = {"up": 0, "down": 0, "none": 0}
    slots = asyncio.Semaphore(max(1, concurrency))

    async def ask(i: int, q: ReferenceQuestion) -> None:
        async with slots:
            scored, detail = await score_one(parts, pipeline, q, user=f"sim-{i}")
            value = vote(scored)
            if value and detail["answer_id"]:
                await call(parts.feedback.record_vote, detail["answer_id"], f"sim-{i}", value, "slack")
            counts["up" if value > 0 else "down" if value < 0 else "none"] += 1
            progress.advance(task)

    with Progress() as progress:
        task = progress.add_task("employees asking and voting", total=len(questions))
        await asyncio.gather(*(ask(i, q) for i, q in enumerate(questions)))
    return counts


async def heldout_items(parts: Components, questions: list[ReferenceQuestion]) -> list[EvalItem]:
    """Held-out questions as the pipeline would prompt the model (retrieval, retrieval rails); questions
    without enough evidence are left out (the model is never asked those)."""
    retriever = await parts.retriever()
    items = []
    for q in questions:
        retrieval = await retriever.retrieve(q.question, groups=["public"])
        chunks = list(retrieval.chunks)
        if parts.guardrails is not None:
            chunks, _ = parts.guardrails.check_chunks(chunks)
        if not chunks or not retrieval.enough_evidence:
            continue
        items.append(EvalItem(prompt=build_messages(q.question, chunks), sources=[evidence_text(c) for c in chunks],
                              facts=q.facts, answerable=q.answerable))
    return items


def _gated_before(registry: AdapterRegistry, notes: str, data: PreferenceData, config: TrainingSettings,
                  prompts: str) -> tuple[AdapterVersion, GateReport] | None:
    """A version this work directory already trained on exactly ``data`` with ``config`` and gated on the same
    held-out prompts (``prompts``: their :func:`items_id`), with its report; None when there is none (a killed
    run leaves none)."""
    wanted = config.hyperparameters()
    for version in reversed(registry.versions()):
        report = version.gate_report or {}
        measured_on = (report.get("generation") or {}).get("items_id")
        if (version.notes == notes and version.dataset_snapshot_id == data.snapshot_id and measured_on == prompts
                and all(version.hyperparameters.get(k) == v for k, v in wanted.items())):
            return version, GateReport.from_dict(report)
    return None


def _figures(report: GateReport) -> dict[str, Any]:
    gen = report.generation
    before, after, deltas = gen.get("production", {}), gen.get("candidate", {}), gen.get("deltas", {})
    out: dict[str, Any] = {}
    for key in (*QUALITY_METRICS, "confident_wrong_rate", "mean_chars"):
        out[f"{key}_before"], out[f"{key}_after"] = before.get(key), after.get(key)
    out["answer_accuracy_delta"] = deltas.get("answer_accuracy")
    out["supported_sentence_rate_delta"] = deltas.get("supported_sentence_rate")
    primary = max(("supported_sentence_rate", "answer_accuracy"), key=lambda k: deltas.get(k) or -1.0)
    others = [v for k, v in deltas.items() if k != primary and v is not None]
    out["worst_other_drop"] = round(max(0.0, -min(others)), 4) if others else None
    out["gate_passed"] = report.passed
    out["gate_failed_checks"] = [c.name for c in report.checks if not c.passed]
    return out


async def bench_loop(base: Settings, *, questions_path: Path, docs: Path | None, work: Path,
                     overrides: dict[str, Any], train_limit: int | None, heldout_limit: int | None,
                     flipped: bool, emit: Callable[[dict], None], concurrency: int = 1,
                     cited_pages_only: bool = False, collection: str = BENCH_COLLECTION,
                     auto_pairs: bool = False) -> dict[str, Any]:
    """Run the loop (see the module docstring); emit and return one JSON object."""
    started = time.perf_counter()
    questions = load_questions(questions_path)
    train = [q for q in questions if q.split == "train"][:train_limit]
    heldout = [q for q in questions if q.split == "heldout"][:heldout_limit]
    work.mkdir(parents=True, exist_ok=True)
    s = bench_settings(base, work, collection=collection)
    s.ensure_dirs()
    # a quick slice: only the pages the chosen questions cite
    ingest_corpus(s, corpus_pages(docs_dir(docs), cited_by=train + heldout if cited_pages_only else None))
    parts = Components(s)
    pipeline = Pipeline(s, parts)
    result: dict[str, Any] = {"bench": "loop", "corpus": "python3-doc 3.11 (real, not written here)",
                              "train_questions": len(train), "heldout_questions": len(heldout)}
    try:
        await pipeline.warm_up()
        marker = work / VOTED_MARK
        if marker.exists():
            result["votes"] = json.loads(marker.read_text())
            result["votes_reused"] = True
        else:
            t = time.perf_counter()
            result["votes"] = await _ask_and_vote(parts, pipeline, train, concurrency)
            result["ask_and_vote_s"] = round(time.perf_counter() - t, 1)
            marker.write_text(json.dumps(result["votes"]))
        items = await heldout_items(parts, heldout)
        data = build_preference_data(parts.feedback)
        config = training_config(s, **overrides)
        result["training"] = {k: v for k, v in config.hyperparameters().items() if k != "seed"}
        registry = AdapterRegistry(s)
        async with LLMClient.from_settings(s.engine) as client:
            if auto_pairs:  # sampled answers ranked by the support check, weighted below the votes' pairs
                data = await add_automatic_pairs(s, parts.feedback, data, client, registry)
                result["automatic_pairs"] = data.automatic
            stats = data.stats()
            result.update(dpo_pairs=stats["dpo_pairs"], dpo_pair_kinds=stats["dpo_pair_kinds"],
                          kto_examples=stats["kto_examples"], eval_items=len(items))
            gated_on = items_id(spread(items, s.feedback.gate_generation_prompts))
            for name, train_data in (("trained", data), ("flipped", data.flipped() if flipped else None)):
                if train_data is None:
                    continue
                notes = f"bench loop: {name} votes"
                done = _gated_before(registry, notes, train_data, config, gated_on)
                if done is not None:  # the same data, settings and held-out prompts: reuse (see --work)
                    version, report = done
                    train_s = (version.metrics or {}).get("total_s")
                    result.setdefault("reused_versions", []).append(version.id)
                else:
                    t = time.perf_counter()
                    version = train_and_register(s, train_data, config, registry, notes=notes)
                    train_s = round(time.perf_counter() - t, 1)
                    report = await evaluate_candidate(s, version.id, train_data, client, registry=registry,
                                                      eval_items=items)
                peak_mb = (version.metrics or {}).get("peak_rss_mb")
                if name == "trained":
                    result.update(_figures(report), train_s=train_s, train_peak_rss_mb=peak_mb, version=version.id)
                else:
                    result.update(flipped_votes_rejected=not report.passed, flipped_train_s=train_s,
                                  flipped_version=version.id, flipped=_figures(report))
    finally:
        await pipeline.aclose()
    result["total_s"] = round(time.perf_counter() - started, 1)
    result["in_sample"] = False
    result["note"] = "figures are on held-out questions (their split in the question set); the model's own text"
    emit(result)
    return result
