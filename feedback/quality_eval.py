"""A model's answer quality on held-out prompts: what the gate compares between a candidate and production.

An :class:`EvalItem` is one prompt exactly as the pipeline builds it (a system message with the numbered
sources, then the question), the sources' texts, and — where a reference exists — the facts a right answer
contains (``feedback.answer_quality``). The model's *own* text is scored, before any grounding rail
replaces it, because that is what training changes:

- ``supported_sentence_rate``: share of its claim sentences that one of the sources supports
  (:func:`guardrails.grounding.attribute`: numbers and identifiers verbatim, words or meaning close);
- ``answer_accuracy``: share of items with facts whose answer contains them all;
- ``unanswerable_refusal_rate``: share of unanswerable items the model declines (a refusal phrase, or
  no claim at all);
- ``confident_wrong_rate``: answers that assert something, are not fully supported and are not right;
- ``mean_chars``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import mean
from typing import TYPE_CHECKING, Any

from engine.llm_client import LLMClient
from engine.rag.embedder import Embedder
from feedback.answer_quality import facts_found
from guardrails.grounding import attribute, identifiers, sentences, strip_markers

if TYPE_CHECKING:
    from feedback.datasets import PreferenceData

_SOURCE_START = re.compile(r"^\[(\d{1,2})\] ", re.MULTILINE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
SOURCES_HEADER = "Sources:\n"
QUALITY_METRICS = ("answer_accuracy", "supported_sentence_rate", "unanswerable_refusal_rate")


@dataclass(frozen=True)
class EvalItem:
    """One held-out prompt to generate from, with what the answer is judged against."""

    prompt: list[dict[str, Any]]
    sources: list[str]
    facts: list[list[str]] = field(default_factory=list)
    answerable: bool = True


def sources_of(prompt: Sequence[dict[str, Any]]) -> list[str]:
    """The source texts inside a pipeline prompt (``[n] where`` line, then the text), in order."""
    system = next((m["content"] for m in prompt if m.get("role") == "system"), "")
    if SOURCES_HEADER not in system:
        return []
    block = system.split(SOURCES_HEADER, 1)[1]
    starts = list(_SOURCE_START.finditer(block))
    texts = []
    for k, match in enumerate(starts):
        end = starts[k + 1].start() if k + 1 < len(starts) else len(block)
        body = block[match.end():end].split("\n", 1)
        texts.append(body[1].strip() if len(body) > 1 else "")
    return texts


def items_from_prompts(prompts: Sequence[Sequence[dict[str, Any]]]) -> list[EvalItem]:
    """Held-out feedback prompts as items (no reference facts: accuracy is not measured on them)."""
    return [EvalItem(prompt=list(p), sources=sources_of(p)) for p in prompts if sources_of(p)]


def items_from_data(data: PreferenceData) -> list[EvalItem]:
    """The held-out split of the preference data as items. An admin's correction is a reference answer: the
    numbers and identifiers it states that its sources contain are the facts a right answer must have."""
    items: list[EvalItem] = []
    seen: set[str] = set()
    for pair in data.pairs["heldout"]:
        sources = sources_of(pair.prompt)
        if not sources or pair.question_key in seen:
            continue
        seen.add(pair.question_key)
        facts: list[list[str]] = []
        if pair.kind == "admin_correction":
            joined = "\n".join(sources)
            facts = [[token] for token in reference_tokens(pair.chosen) if token in joined]
        items.append(EvalItem(prompt=list(pair.prompt), sources=sources, facts=facts))
    if not items:
        items = items_from_prompts([k.prompt for k in data.kto["heldout"]])
    return items


def reference_tokens(text: str) -> list[str]:
    """Numbers and identifiers a reference answer states (what must be right in an answer to it)."""
    found = _NUMBER.findall(strip_markers(text)) + sorted(identifiers(text))
    return list(dict.fromkeys(found))


def _declines(text: str, refusal_markers: Sequence[str]) -> bool:
    lowered = text.lower()
    return not sentences(text) or any(m in lowered for m in refusal_markers)


def claim_support(text: str, sources: Sequence[str], embedder: Embedder, *, similarity: float,
                  markers: Sequence[str]) -> list[bool]:
    """For each claim sentence of ``text`` (a sentence with a lower-cased refusal marker claims nothing): whether
    one of the sources supports it."""
    claims = [c for c in sentences(text) if not any(m in c.lower() for m in markers)]
    return [attribute(c, sources, embedder, similarity).supported for c in claims]


def support_share(text: str, sources: Sequence[str], embedder: Embedder, *, similarity: float,
                  refusal_markers: Sequence[str]) -> float | None:
    """The share of ``text``'s claim sentences the sources support; None when it declines or claims nothing."""
    markers = [m.lower() for m in refusal_markers]
    if _declines(text, markers):
        return None
    found = claim_support(text, sources, embedder, similarity=similarity, markers=markers)
    return sum(found) / len(found) if found else None


def score_texts(texts: Sequence[str], items: Sequence[EvalItem], embedder: Embedder, *, similarity: float,
                refusal_markers: Sequence[str]) -> dict[str, Any]:
    """The quality figures of ``texts`` (one per item)."""
    markers = [m.lower() for m in refusal_markers]
    claims = supported = 0
    accurate: list[bool] = []
    declined: list[bool] = []
    wrong: list[bool] = []
    for text, item in zip(texts, items, strict=True):
        found = claim_support(text, item.sources, embedder, similarity=similarity, markers=markers)
        claims += len(found)
        supported += sum(found)
        right = facts_found(text, item.facts) if item.facts else None
        if right is not None:
            accurate.append(right)
        if not item.answerable:
            declined.append(_declines(text, markers))
        asserts = bool(found) and not _declines(text, markers)
        wrong.append(asserts and not all(found) and not right)
    return {
        "n": len(texts),
        "answer_accuracy": round(mean(accurate), 4) if accurate else None,
        "supported_sentence_rate": round(supported / claims, 4) if claims else None,
        "unanswerable_refusal_rate": round(mean(declined), 4) if declined else None,
        "confident_wrong_rate": round(mean(wrong), 4) if wrong else None,
        "mean_chars": round(mean(len(t) for t in texts), 1) if texts else 0.0,
        "claims": claims,
    }


async def generate(client: LLMClient, model: str, items: Sequence[EvalItem], *, max_tokens: int,
                   repetition_penalty: float, concurrency: int = 8) -> list[str]:
    """The model's answers to every item (greedy, so a comparison is not sampling noise)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(item: EvalItem) -> str:
        async with gate:
            reply = await client.chat(item.prompt, model=model, max_tokens=max_tokens, temperature=0.0,
                                      repetition_penalty=repetition_penalty)
            return reply.text

    return list(await asyncio.gather(*(one(i) for i in items)))


def compare(candidate: dict[str, Any], production: dict[str, Any]) -> dict[str, float | None]:
    """Candidate minus production for each quality metric (confident-wrong: production minus candidate, so
    that for every delta positive means better)."""
    deltas: dict[str, float | None] = {}
    for key in QUALITY_METRICS:
        a, b = candidate.get(key), production.get(key)
        deltas[key] = None if a is None or b is None else round(a - b, 4)
    a, b = candidate.get("confident_wrong_rate"), production.get("confident_wrong_rate")
    deltas["confident_wrong_rate"] = None if a is None or b is None else round(b - a, 4)
    return deltas
