"""Streaming output rails: an answer shown sentence by sentence, each one masked and grounded first.

The model's deltas are masked on the way out (secrets and PII; the text after the last sentence boundary is
held back so a secret split across deltas is still masked whole). Each completed sentence is then
attributed to the retrieved chunk that supports it (:func:`guardrails.grounding.attribute`, in a worker
thread while the model keeps generating): a supported sentence is released at once, carrying its chunk's
index (the bot cites it right there); an unsupported one is never released. Nothing waits for a fixed
number of tokens, and no model call sits on this path.

The final event's verdict has the whole released text, the flags (``unverified`` when a sentence was held
back) and the held-back sentences (``unsupported``). What the bot does with those is its answer policy
(:mod:`bot.pipeline`): show the supported sentences, or quote the documents instead, and — only with
``guardrails.unsupported_text: mark`` — show the unsupported ones as clearly marked, after the model's own
output self-check (NeMo ``self check output``) passed them: the self-check only runs where it can change
what a user sees. With ``fact_check_action: block`` a mostly unsupported answer ends in a blocked event.
With ``fact_check`` off every sentence is released as it is (no source), and the self-check judges the
whole answer at the end (a block, or a self-check that cannot run while ``output_check_unavailable`` is
"block", retracts it).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.logs import get_logger
from engine.rag import RetrievedChunk
from guardrails.grounding import MIN_SENTENCE_WORDS, GroundedSentence, Support, evidence_text, split_text, words
from guardrails.verdict import OutputEvent, RailVerdict

if TYPE_CHECKING:
    from engine.settings import GuardrailSettings

log = get_logger(__name__)
_BOUNDARY = re.compile(r"[.!?](\s)|\n")
HOLDBACK_MAX_CHARS = 240


@dataclass(frozen=True)
class OutputChecks:
    """What the streaming output rails need from the rails, and nothing more (built by
    ``Guardrails.output_checks``)."""

    config: GuardrailSettings
    mask: Callable[[str], tuple[str, list[str]]]  # output masking: (masked text, flags)
    attribute: Callable[[str, Sequence[str]], GroundedSentence]  # the chunk supporting a sentence (blocking)
    self_check: Callable[[str, str, str, dict[str, float], list[str]], Awaitable[bool]]  # text, question, model
    fact_verdict: Callable[[Support, str, dict[str, float], list[str]], RailVerdict | None]


class _Masker:
    """Masks text on its way out, holding back the tail after the last sentence boundary."""

    def __init__(self, checks: OutputChecks, timings: dict[str, float], flags: list[str]) -> None:
        self.checks, self.timings, self.flags = checks, timings, flags
        self.pending = ""

    def feed(self, text: str) -> str:
        self.pending += text
        ends = [m.end() for m in _BOUNDARY.finditer(self.pending)]
        cut = ends[-1] if ends else 0
        if not cut and len(self.pending) > HOLDBACK_MAX_CHARS:
            cut = self.pending.rfind(" ") + 1
        ready, self.pending = self.pending[:cut], self.pending[cut:]
        return self._mask(ready)

    def flush(self) -> str:
        ready, self.pending = self.pending, ""
        return self._mask(ready)

    def _mask(self, text: str) -> str:
        if not text:
            return ""
        start = time.perf_counter()
        masked, found = self.checks.mask(text)
        self.timings["output.masking"] = self.timings.get("output.masking", 0.0) + (time.perf_counter() - start) * 1000
        self.flags.extend(flag for flag in found if flag not in self.flags)
        return masked


async def guarded_stream(checks: OutputChecks, deltas: AsyncIterator[str], *, question: str,
                         chunks: Sequence[RetrievedChunk], model: str) -> AsyncIterator[OutputEvent]:
    """Yield released sentences as :class:`OutputEvent` s, then one final event with the verdict."""
    timings: dict[str, float] = {}
    flags: list[str] = []
    masker = _Masker(checks, timings, flags)
    texts = [evidence_text(c) for c in chunks]
    grounding = checks.config.enabled and checks.config.fact_check
    released: list[GroundedSentence] = []
    held: list[str] = []
    claims = 0
    busy = 0.0

    async def judge(piece: str) -> OutputEvent | None:
        nonlocal claims, busy
        if not grounding:
            released.append(GroundedSentence(piece, None))
            return OutputEvent(piece)
        if len(words(piece)) < MIN_SENTENCE_WORDS:
            return None  # too short to carry a claim ("Yes.", a list number): shown only inside a supported text
        claims += 1
        start = time.perf_counter()
        found = await asyncio.to_thread(checks.attribute, piece, texts)
        busy += (time.perf_counter() - start) * 1000
        if found.supported:
            released.append(found)
            return OutputEvent(piece, source=found.source)
        held.append(piece)
        return None

    async for delta in deltas:
        for piece in split_text(masker.feed(delta)):
            event = await judge(piece)
            if event is not None:
                yield event
    for piece in split_text(masker.flush()):
        event = await judge(piece)
        if event is not None:
            yield event
    timings["output.fact_check"] = busy
    answer = " ".join(s.text for s in released)
    support = Support(1 - len(held) / claims, list(held), claims) if claims else Support(1.0, [], 0)
    refusal = checks.fact_verdict(support, answer, timings, flags) if grounding and claims else None
    if held and "unverified" not in flags:
        flags.append("unverified")
    if refusal is not None:
        yield OutputEvent("", blocked=True, verdict=refusal)
        return
    if not grounding and checks.config.enabled and checks.config.self_check_output and answer:
        # nothing is known to be supported: the model's self-check judges the whole (already shown) answer,
        # and a block retracts it
        if await checks.self_check(answer, question, model, timings, flags):
            rail = "output.self_check_unavailable" if "self_check_unavailable" in flags else "output.self_check"
            yield OutputEvent("", blocked=True, verdict=RailVerdict.refuse(rail, answer, timings, flags))
            return
    shown_unsupported: list[str] = []
    if held and checks.config.unsupported_text == "mark":
        if checks.config.self_check_output and await checks.self_check(" ".join(held), question, model,
                                                                         timings, flags):
            flags.append("unsupported_blocked")
        else:
            shown_unsupported = held
    rail = "output.masking" if any(f.endswith("_masked") for f in flags) else (
        "output.fact_check" if held else None)
    yield OutputEvent("", verdict=RailVerdict(True, answer, rail=rail, flags=flags, timings_ms=timings),
                      unsupported=shown_unsupported, held_back=len(held), claims=claims)
