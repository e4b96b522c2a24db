"""The answer policy: what of the model's text a user sees, and with which citation after each sentence.

Every sentence shown as an answer is supported by the chunk cited right after it (``… [2]``). The model's
own text is shown when enough of it is supported (``guardrails.grounded_min_share``): its supported
sentences, each with its citation, and — only with ``guardrails.unsupported_text: mark`` — the rest under
a label that says it was not found in the documents. Otherwise the answer quotes the documents: the few
sentences that answer the question, each with its citation. When no sentence of the documents is relevant
enough, the answer is "not enough evidence". Citations are numbered in order of first use; the list under
the answer is exactly the chunks that support a shown sentence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot import messages
from bot.prompting import Citation, to_citation
from engine.rag import RetrievedChunk
from guardrails.grounding import GroundedSentence, strip_markers

_BULLET = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")


@dataclass
class CitationNumbers:
    """Citation numbers for chunks, in order of first use."""

    chunks: Sequence[RetrievedChunk]
    order: list[int] = field(default_factory=list)

    def number(self, source: int | None) -> int | None:
        """The 1-based citation number of chunk ``source`` (assigned on first use)."""
        if source is None or not 0 <= source < len(self.chunks):
            return None
        if source not in self.order:
            self.order.append(source)
        return self.order.index(source) + 1

    def cite(self, sentence: str, source: int | None) -> str:
        """``sentence`` (the model's own [k] markers removed) followed by its citation marker."""
        number = self.number(source)
        text = strip_markers(sentence)
        return f"{text} [{number}]" if number else text

    def citations(self) -> list[Citation]:
        return [to_citation(self.chunks[i]) for i in self.order]


@dataclass(frozen=True)
class Composed:
    """The text a user sees, its citations, and which kind of answer it is."""

    text: str
    citations: list[Citation]
    kind: str  # "model" | "extractive" | "no_evidence"


def model_answer(numbers: CitationNumbers, shown: list[str], unsupported: Sequence[str]) -> Composed:
    """The model's supported sentences (already cited as they streamed) and, if allowed, the marked rest."""
    text = " ".join(shown)
    if unsupported:
        text += f"\n\n{messages.UNSUPPORTED_LABEL} " + " ".join(strip_markers(s) for s in unsupported)
    return Composed(text, numbers.citations(), "model")


def extractive_answer(chunks: Sequence[RetrievedChunk], quotes: list[GroundedSentence]) -> Composed:
    """The documents' own sentences, quoted with their citations ("The documents say: …")."""
    numbers = CitationNumbers(chunks)
    lines = [f"> {numbers.cite(_BULLET.sub('', q.text), q.source)}" for q in quotes]
    return Composed(messages.EXTRACTIVE_INTRO + "\n" + "\n".join(lines), numbers.citations(), "extractive")


def use_model_text(supported: int, claims: int, min_share: float) -> bool:
    """Whether the model's text is grounded enough to show (else the documents are quoted)."""
    return supported > 0 and claims > 0 and supported / claims >= min_share
