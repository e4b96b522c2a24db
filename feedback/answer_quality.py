"""Answer quality against reference answers: the question set format, the scores, and a deterministic voter.

Used by ``ratchet bench answers`` (quality on a real corpus), ``ratchet bench loop`` (simulated employees
vote, the learning loop trains, held-out questions are scored before and after) and the evaluation gate.

A question (one JSON object per line, see ``tests/answers/README.md``) has ``facts``: a list of facts, each a
list of acceptable spellings; an answer is *accurate* when every fact has a spelling in it (case-insensitive,
whitespace normalised). Unanswerable questions have no facts; the right answer to them is a refusal.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SPACE = re.compile(r"\s+")
KINDS = ("direct", "paraphrased", "multi_part", "unanswerable")


@dataclass(frozen=True)
class ReferenceQuestion:
    """One benchmark question with its reference."""

    id: str
    question: str
    kind: str
    source: str | None
    facts: list[list[str]]
    split: str
    reference: str = ""
    evidence: list[str] = field(default_factory=list)
    source_heldout: bool = False

    @property
    def answerable(self) -> bool:
        return self.kind != "unanswerable"


def load_questions(path: Path) -> list[ReferenceQuestion]:
    """The questions in a JSONL file (blank lines skipped); a bad line is an error naming it."""
    out: list[ReferenceQuestion] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            out.append(ReferenceQuestion(
                id=row["id"], question=row["question"], kind=row["kind"], source=row.get("source"),
                facts=[list(f) for f in row.get("facts") or []], split=row["split"],
                reference=row.get("reference", ""), evidence=list(row.get("evidence") or []),
                source_heldout=bool(row.get("source_heldout", False))))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a question row ({exc})") from None
    return out


def normalise(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


def facts_found(answer: str, facts: Sequence[Sequence[str]]) -> bool:
    """Every fact has one of its spellings in ``answer`` (no facts = False: nothing to be right about)."""
    text = normalise(answer)
    return bool(facts) and all(any(normalise(s) in text for s in spellings) for spellings in facts)


@dataclass
class Scored:
    """One answer, scored."""

    question: ReferenceQuestion
    answer: str
    refused: bool  # a refusal or "not enough evidence" (not a failure)
    blocked: bool  # a rail refused a benign question
    error: bool  # a service failed
    sentences: int  # claim sentences shown as an answer
    supported: int  # ... of which the cited chunk supports
    model_sentences: int = 0  # the model's own claim sentences (before grounding)
    model_supported: int = 0
    seconds: float = 0.0
    retrieved_sources: list[str] = field(default_factory=list)
    grounding: str | None = None

    @property
    def accurate(self) -> bool:
        return self.question.answerable and not self.refused and facts_found(self.answer, self.question.facts)

    @property
    def fully_supported(self) -> bool:
        return self.sentences > 0 and self.supported == self.sentences

    @property
    def confident_wrong(self) -> bool:
        """Answered as fact, not (fully) supported, and wrong (or answering an unanswerable question)."""
        answered = not (self.refused or self.blocked or self.error)
        return answered and not self.fully_supported and not self.accurate


def vote(scored: Scored) -> int:
    """What a careful employee would do: 👍 (1) when the answer contains the reference fact and every
    sentence is supported, or when an unanswerable question is declined; 👎 (-1) when it is wrong or
    invented; 0 (no vote) otherwise (a refusal of an answerable question, a service error)."""
    if scored.error:
        return 0
    if not scored.question.answerable:
        return 1 if scored.refused else -1
    if scored.refused or scored.blocked:
        return 0
    return 1 if scored.accurate and scored.fully_supported else -1


def _rate(values: Iterable[bool]) -> float | None:
    items = list(values)
    return round(sum(items) / len(items), 3) if items else None


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))], 3)


def summarise(rows: Sequence[Scored], *, top_k: int = 5) -> dict[str, Any]:
    """The benchmark's figures over ``rows`` (see ``ratchet bench answers``)."""
    answerable = [r for r in rows if r.question.answerable]
    unanswerable = [r for r in rows if not r.question.answerable]
    shown = sum(r.sentences for r in rows)
    model = sum(r.model_sentences for r in rows)
    answered = [r for r in rows if not (r.refused or r.blocked or r.error)]
    return {
        "questions": len(rows),
        "recall_at_5": _rate(r.question.source in r.retrieved_sources[:top_k] for r in answerable),
        "answer_accuracy": _rate(r.accurate for r in answerable),
        "supported_sentence_rate": round(sum(r.supported for r in rows) / shown, 3) if shown else None,
        "model_supported_sentence_rate": round(sum(r.model_supported for r in rows) / model, 3) if model else None,
        "confident_wrong_rate": _rate(r.confident_wrong for r in rows),
        "unanswerable_refusal_rate": _rate(r.refused for r in unanswerable),
        "false_block_rate": _rate(r.blocked for r in rows),
        "error_rate": _rate(r.error for r in rows),
        "extractive_share": _rate(r.grounding == "extractive" for r in answered),
        "mean_answer_chars": round(statistics.mean(len(r.answer) for r in answered), 1) if answered else None,
        "p50_s": _pct([r.seconds for r in rows], 0.5),
        "p95_s": _pct([r.seconds for r in rows], 0.95),
    }
