"""The pipeline's data: a question in, events and an answer out. No Slack here, no services."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.prompting import Citation

STATUS = "status"
DELTA = "delta"
FINAL = "final"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(text: str) -> str:
    """``text`` as every later step can read it: lone surrogates (which no tokenizer accepts: Slack JSON may
    carry them as ``\\udbff``) become "?", control characters other than tab and newlines are dropped."""
    return _CONTROL.sub("", text.encode("utf-8", "replace").decode("utf-8"))


@dataclass
class Question:
    """One question, with where it was asked (which decides permissions, routing and recording)."""

    text: str
    user: str | None = None
    channel: str | None = None
    source: str = "cli"  # "slack" | "chat" | "cli"
    thread_key: str | None = None  # sticky canary routing key (e.g. channel:thread_ts)
    thread_ts: str | None = None
    history: list[dict[str, str]] = field(default_factory=list)  # earlier turns, oldest first
    groups: list[str] = field(default_factory=lambda: ["public"])
    collections: list[str] | None = None
    adapter_override: str | None = None
    tenant: str | None = None
    alternative_of: str | None = None  # a regenerated answer competes with this one

    def __post_init__(self) -> None:
        self.text = clean_text(self.text or "")
        self.history = [{**m, "content": clean_text(m.get("content") or "")} for m in self.history]

    @property
    def routing_key(self) -> str:
        """The key canary routing hashes (the same thread always gets the same adapter)."""
        return self.thread_key or f"{self.channel or self.source}:{self.user or ''}"


@dataclass
class Answer:
    """The pipeline's result."""

    text: str
    citations: list[Citation] = field(default_factory=list)
    adapter: str | None = None  # adapter version id; None = base model
    alias: str | None = None
    refused: bool = False
    refusal_rail: str | None = None
    error: str | None = None  # a service failed: which one (the text says it to the user)
    cached: bool = False
    standalone_query: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    answer_id: str | None = None  # feedback store id (votes attach here)
    grounding: str | None = None  # "model" (its supported sentences) | "extractive" (quoted documents)

    def as_json(self) -> dict[str, Any]:
        """The `ratchet ask --json` object."""
        return {
            "answer": self.text,
            "citations": [c.as_dict() for c in self.citations],
            "adapter": self.adapter,
            "alias": self.alias,
            "refused": self.refused,
            "refusal_rail": self.refusal_rail,
            "error": self.error,
            "cached": self.cached,
            "answer_id": self.answer_id,
            "grounding": self.grounding,
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }


@dataclass
class PipelineEvent:
    """What the pipeline reports while it works: a status line, a piece of text, or the final answer."""

    kind: Literal["status", "delta", "final"]
    text: str = ""
    answer: Answer | None = None


class Stopwatch:
    """Named stage timings in milliseconds."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.timings: dict[str, float] = {}

    def lap(self, name: str, since: float) -> float:
        """Record the time from ``since`` (a perf_counter value) to now under ``name``."""
        self.timings[name] = (time.perf_counter() - since) * 1000
        return self.timings[name]

    def total(self) -> dict[str, float]:
        """All timings plus ``total``."""
        self.timings["total"] = (time.perf_counter() - self.start) * 1000
        return dict(self.timings)
