"""Automatic preference pairs: the support check ranks sampled answers, no user needed.

For the newest stored answers of *training* questions (one per question, up to ``auto_pairs.max_prompts``;
refusals and cached answers are skipped, as in the vote-built data), the production model answers the
stored prompt ``auto_pairs.samples`` times (sampled: ``temperature``, ``top_p``). The candidates are those
samples and, when the answer has one, its grounded cited completion (the sentences the grounding rails showed,
:func:`feedback.datasets.grounded_completion`). Each candidate is scored with the gate's support check
(:func:`feedback.quality_eval.support_share`: the share of its claim sentences a source of the prompt supports);
a candidate that declines or claims nothing is left out (declining is right for some questions, so it is never
ranked). The best candidate is preferred over the worst when it reaches ``min_support`` and leads by
``margin``: one pair of kind ``automatic`` with loss weight ``auto_pairs.weight`` (human pairs weigh 1).

Human votes win: a text a user voted 👎 on for that question (the answer or its grounded completion) is never
chosen. Identical texts (citation markers, case and spacing aside) are never paired; a sample cut off at
``max_tokens`` is never chosen. Automatic pairs only ever join the training split.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from engine.llm_client import LLMClient, LLMError
from engine.logs import get_logger
from engine.rag.embedder import Embedder
from engine.registry import AdapterRegistry
from feedback.datasets import DpoPair, PreferenceData, grounded_completion, heldout_split, human_labels, unusable_reason
from feedback.models import Answer
from feedback.quality_eval import sources_of, support_share
from guardrails.grounding import strip_markers

if TYPE_CHECKING:
    from engine.settings import Settings
    from feedback.store import FeedbackStore

log = get_logger(__name__)

PAGE = 200  # stored answers read per query while looking for prompts


@dataclass(frozen=True)
class Candidate:
    """One answer to a stored prompt, with its support share (None: declines or claims nothing)."""

    text: str
    origin: str  # grounded | sample-<i>
    support: float | None
    complete: bool = True  # False: cut off at max_tokens


def same_text(text: str) -> str:
    """What two answers must differ in to be paired: citation markers, case and spacing aside."""
    return re.sub(r"\s+", " ", strip_markers(text)).strip().lower()


def downvoted_texts(store: FeedbackStore) -> dict[str, set[str]]:
    """question key -> the texts users voted 👎 on for it (the shown answer and its grounded completion)."""
    vetoed: dict[str, set[str]] = defaultdict(set)
    for answer, label in human_labels(store).values():
        if label < 0:
            for text in (answer.answer, grounded_completion(answer)):
                if text:
                    vetoed[answer.question_key].add(same_text(text))
    return vetoed


def prompts_to_sample(store: FeedbackStore, limit: int, report: dict[str, int]) -> list[Answer]:
    """The newest usable answer of each training question that has sources, up to ``limit`` questions."""
    settings = store.settings
    chosen: list[Answer] = []
    seen: set[str] = set()
    offset = 0
    while len(chosen) < limit:
        page = store.newest_answers(limit=PAGE, offset=offset)
        offset += PAGE
        for answer in page:
            if answer.question_key in seen or len(chosen) >= limit:
                continue
            reason = unusable_reason(answer)
            if reason is None and heldout_split(answer.question_key, settings) == "heldout":
                reason = "heldout_question"
            if reason is None and not sources_of(answer.prompt):
                reason = "no_sources"
            if reason:  # an older answer to the same question may still do
                report[reason] += 1
            else:
                seen.add(answer.question_key)
                chosen.append(answer)
        if len(page) < PAGE:
            break
    return chosen


async def sample_answers(settings: Settings, client: LLMClient, model: str,
                         answers: Sequence[Answer], concurrency: int = 8) -> list[list[tuple[str, bool]]]:
    """``auto_pairs.samples`` sampled (text, complete) answers to each stored prompt."""
    cfg = settings.feedback.auto_pairs
    gate = asyncio.Semaphore(concurrency)

    async def one(answer: Answer, i: int) -> tuple[str, bool]:
        async with gate:
            reply = await client.chat(answer.prompt, model=model, max_tokens=cfg.max_tokens,
                                      temperature=cfg.temperature, top_p=cfg.top_p,
                                      repetition_penalty=settings.engine.repetition_penalty,
                                      seed=settings.feedback.training.seed + i)
            return reply.text, reply.finish_reason != "length"

    jobs = [one(a, i) for a in answers for i in range(cfg.samples)]
    results = await asyncio.gather(*jobs, return_exceptions=True)
    failed = next((r for r in results if isinstance(r, BaseException)), None)
    if failed is not None:
        raise failed
    return [list(results[k * cfg.samples:(k + 1) * cfg.samples]) for k in range(len(answers))]


def candidates(answer: Answer, samples: Sequence[tuple[str, bool]], settings: Settings,
               embedder: Embedder) -> list[Candidate]:
    """The answer's grounded completion (first) and the samples, distinct texts only, each scored."""
    sources = sources_of(answer.prompt)
    texts = [(grounded_completion(answer), "grounded", True)]
    texts += [(text, f"sample-{i}", complete) for i, (text, complete) in enumerate(samples)]
    out: list[Candidate] = []
    seen: set[str] = set()
    for text, origin, complete in texts:
        if not text or not text.strip() or same_text(text) in seen:
            continue
        seen.add(same_text(text))
        share = support_share(text, sources, embedder,
                              similarity=settings.guardrails.fact_check_sentence_similarity,
                              refusal_markers=settings.feedback.refusal_markers)
        out.append(Candidate(text.strip(), origin, share, complete))
    return out


def rank_pair(answer: Answer, scored: Sequence[Candidate], vetoed: set[str], settings: Settings,
              report: dict[str, int]) -> DpoPair | None:
    """The best supported candidate over the least supported one, or None (the reason is counted)."""
    cfg = settings.feedback.auto_pairs
    ranked = [c for c in scored if c.support is not None]
    eligible = [c for c in ranked if c.complete and same_text(c.text) not in vetoed]
    if len(ranked) < 2 or not eligible:
        report["too_few_candidates"] += 1
        return None
    best = max(eligible, key=lambda c: c.support)  # the first of equals: the grounded completion when it ties
    worst = min((c for c in ranked if c is not best), key=lambda c: c.support)
    if best.support < cfg.min_support:
        report["below_min_support"] += 1
        return None
    if best.support - worst.support < cfg.margin:
        report["below_margin"] += 1
        return None
    # the weight is part of the id, so a dataset snapshot with other weights is another snapshot
    pid = "p-" + hashlib.sha256(f"{answer.id}>auto:{cfg.weight}>{best.text}>{worst.text}".encode()).hexdigest()[:16]
    return DpoPair(id=pid, kind="automatic", question_key=answer.question_key, prompt=answer.prompt,
                   chosen=best.text, rejected=worst.text, chosen_id=f"{answer.id}:{best.origin}",
                   rejected_id=f"{answer.id}:{worst.origin}", weight=cfg.weight)


async def automatic_pairs(settings: Settings, store: FeedbackStore, client: LLMClient,
                          model: str) -> tuple[list[DpoPair], dict[str, Any]]:
    """Automatic pairs from the stored prompts (see the module docstring) and what happened to each prompt."""
    cfg = settings.feedback.auto_pairs
    report: dict[str, int] = defaultdict(int)
    answers = prompts_to_sample(store, cfg.max_prompts, report)
    samples = await sample_answers(settings, client, model, answers) if answers else []
    vetoed = downvoted_texts(store)
    embedder = Embedder(settings.rag)
    pairs = []
    for answer, texts in zip(answers, samples, strict=True):
        pair = rank_pair(answer, candidates(answer, texts, settings, embedder), vetoed[answer.question_key],
                         settings, report)
        if pair is not None:
            pairs.append(pair)
    return pairs, {"prompts": len(answers), "pairs": len(pairs), "skipped": dict(report)}


async def add_automatic_pairs(settings: Settings, store: FeedbackStore, data: PreferenceData, client: LLMClient,
                              registry: AdapterRegistry) -> PreferenceData:
    """``data`` with automatic pairs added to its training split (human pairs untouched), sampled from the
    production model; when vLLM cannot be used, ``data`` unchanged (the reason logged and recorded)."""
    cfg = settings.feedback.auto_pairs
    model = registry.route("auto-pairs", override="production").model
    summary: dict[str, Any] = {"model": model, "weight": cfg.weight, "samples": cfg.samples}
    try:
        if not await client.health():
            raise LLMError(f"vLLM at {client.base_url} is not healthy")
        pairs, report = await automatic_pairs(settings, store, client, model)
    except LLMError as exc:
        log.warning("auto_pairs.skipped", reason=str(exc))
        return replace(data, automatic={**summary, "pairs": 0, "error": f"vLLM: {exc}"})
    log.info("auto_pairs.built", pairs=len(pairs), prompts=report["prompts"], skipped=report["skipped"])
    return replace(data, pairs={**data.pairs, "train": data.pairs["train"] + pairs},
                   automatic={**summary, **report})


def with_automatic_pairs(settings: Settings, store: FeedbackStore, data: PreferenceData,
                         registry: AdapterRegistry, method: str) -> PreferenceData:
    """What the training job trains on: ``data``, plus automatic pairs when they are enabled and the method
    trains on pairs (DPO)."""
    if not settings.feedback.auto_pairs.enabled or method != "dpo":
        return data

    async def run() -> PreferenceData:
        async with LLMClient.from_settings(settings.engine) as client:
            return await add_automatic_pairs(settings, store, data, client, registry)

    return asyncio.run(run())
