"""Prompt building and citation parsing: the system prompt, numbered sources, thread history.

The model sees the retrieved chunks as numbered sources ``[1]``, ``[2]``… and is asked to cite them by
number; :func:`cited_numbers` reads those markers back so the final answer lists the sources it used
(or, when the model cited nothing, every source it was given).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

SYSTEM_PROMPT = (
    "You are Ratchet, the company's assistant. Answer the question using only the numbered sources "
    "below. Cite the sources you use with their numbers in square brackets, like [1]. If the sources "
    "do not contain the answer, say that you do not know. Be brief."
)
_CITATION = re.compile(r"\[(\d{1,2})\]")


@dataclass(frozen=True)
class Citation:
    """One source shown under an answer."""

    source: str
    title: str
    heading: str
    chunk_id: str
    score: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the ``citations`` items of `ratchet ask --json`)."""
        return {"source": self.source, "title": self.title, "heading": self.heading,
                "chunk_id": self.chunk_id, "score": round(float(self.score), 4)}


def location(title: str | None, heading: str | None) -> str:
    """'Title > Heading path' for a citation, without repeating a title the heading path starts with."""
    if title and heading and (heading == title or heading.startswith(f"{title} > ")):
        return heading
    return " > ".join(p for p in (title, heading) if p)


def format_sources(chunks: Sequence[Any]) -> str:
    """The numbered source block put in front of the question."""
    parts = []
    for number, chunk in enumerate(chunks, start=1):
        where = location(chunk.title, chunk.heading)
        parts.append(f"[{number}] {where}\n{chunk.text.strip()}")
    return "\n\n".join(parts)


def build_messages(question: str, chunks: Sequence[Any], history: Sequence[dict[str, str]] = ()) -> list[dict[str, str]]:
    """The exact chat messages sent to the model (also stored with the answer for training)."""
    sources = format_sources(chunks) or "(no sources)"
    messages = [{"role": "system", "content": f"{SYSTEM_PROMPT}\n\nSources:\n{sources}"}]
    messages.extend({"role": m["role"], "content": m["content"]} for m in history)
    messages.append({"role": "user", "content": question})
    return messages


def trim_history(history: Sequence[dict[str, str]], *, max_messages: int, max_chars: int) -> list[dict[str, str]]:
    """The most recent turns that fit the budget, oldest first."""
    kept: list[dict[str, str]] = []
    used = 0
    for message in reversed(list(history)[-max_messages:] if max_messages else []):
        used += len(message["content"])
        if used > max_chars:
            break
        kept.append(message)
    return list(reversed(kept))


def cited_numbers(text: str, available: int) -> list[int]:
    """Source numbers (1-based, in order of first mention) the answer cites and that exist."""
    seen: list[int] = []
    for match in _CITATION.finditer(text):
        number = int(match.group(1))
        if 1 <= number <= available and number not in seen:
            seen.append(number)
    return seen


def citations_for(text: str, chunks: Sequence[Any]) -> list[Citation]:
    """Citations of an answer: the sources it cites, or all sources when it cites none."""
    numbers = cited_numbers(text, len(chunks)) or list(range(1, len(chunks) + 1))
    return [to_citation(chunks[n - 1]) for n in numbers]


def to_citation(chunk: Any) -> Citation:
    """A retrieved chunk as a citation."""
    return Citation(source=chunk.source, title=chunk.title, heading=chunk.heading,
                    chunk_id=chunk.chunk_id, score=float(chunk.score))
