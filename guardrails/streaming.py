"""Streaming output rails: checked chunks of an answer as it is generated.

The deltas go through NeMo Guardrails' streaming output rails (``LLMRails.stream_async(generator=...)``),
which buffer ``stream_chunk_size`` deltas (plus ``stream_context_size`` of context) and run
``self check output`` on each buffer. With ``stream_first: false`` a chunk is released only
after its check passed; secrets/PII are masked on the way out, holding text back to the next sentence
boundary so a secret split across deltas is still masked whole.

What happens to text already shown when a later chunk is blocked
-----------------------------------------------------------------
The blocked chunk itself is never shown (with ``stream_first: true`` it may already have been shown).
Chunks before it passed their checks and were shown. The stream then ends with one
``OutputEvent(blocked=True)`` whose verdict carries the friendly refusal (``message``) and the text
shown so far (``text``): the bot must replace the partial message it has been updating with the
refusal message, so no part of a blocked answer stays visible, and record the refusal. The fact check
checks each sentence as soon as it is released (in a worker thread, while the model keeps generating)
and decides on the whole answer at the end; with ``fact_check_action: block`` a failing answer is retracted
the same way, with ``flag`` (default) the final verdict carries the ``unverified`` flag.

A self-check "block" of the tiny model is only honoured when corroborated (a secret was masked or the
text matches injection/jailbreak patterns, or ``self_check_alone_blocks``); otherwise the held chunk is
released and streaming continues over the remaining deltas (flag ``self_check_overruled``). A check that
cannot run (the model is down) retracts the answer the same way, unless ``output_check_unavailable`` is
"allow": then streaming continues with masking and the fact check only (flag ``self_check_unavailable``).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from engine.logs import get_logger
from guardrails.grounding import Support, sentences, unsupported_claims
from guardrails.threads import limited_threads
from guardrails.verdict import OutputEvent, RailVerdict

if TYPE_CHECKING:
    from guardrails.rails import Guardrails

log = get_logger(__name__)
_BOUNDARY = re.compile(r"[.!?](\s)|\n")
HOLDBACK_MAX_CHARS = 240


class _Masker:
    """Masks text on its way out, holding back the tail after the last sentence boundary."""

    def __init__(self, guard: "Guardrails", timings: dict[str, float], flags: list[str]) -> None:
        self.guard, self.timings, self.flags = guard, timings, flags
        self.pending = ""
        self.shown: list[str] = []

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
        masked, found = self.guard.mask(text, pii=self.guard.config.mask_output)
        self.timings["output.masking"] = self.timings.get("output.masking", 0.0) + (time.perf_counter() - start) * 1000
        self.flags.extend(flag for flag in found if flag not in self.flags)
        self.shown.append(masked)
        return masked


class _FactChecker:
    """Checks released sentences against the chunks in the background while streaming goes on."""

    def __init__(self, guard: "Guardrails", chunks: Sequence) -> None:
        self.guard = guard
        self.enabled = guard.config.enabled and guard.config.fact_check
        self.texts = [c.text for c in chunks]
        self.claims: list[str] = []
        self.tasks: list[asyncio.Task[list[str]]] = []
        self.busy_ms = 0.0

    def add(self, released: str) -> None:
        claims = sentences(released) if self.enabled else []
        if claims:
            self.claims += claims
            self.tasks.append(asyncio.create_task(asyncio.to_thread(self._check, claims)))

    def _check(self, claims: list[str]) -> list[str]:
        start = time.perf_counter()
        try:
            with limited_threads(self.guard.config.torch_threads):
                return unsupported_claims(claims, self.texts, self.guard.semantic.embedder,
                                          self.guard.config.fact_check_sentence_similarity)
        finally:
            self.busy_ms += (time.perf_counter() - start) * 1000

    async def result(self) -> Support:
        found = await asyncio.gather(*self.tasks)
        return Support.of(self.claims, [claim for batch in found for claim in batch])

    def cancel(self) -> None:
        for task in self.tasks:
            task.cancel()


def _blocked_flow(piece: str) -> str | None:
    """The flow named in NeMo's in-stream JSON error, or None for ordinary text."""
    if not piece.startswith('{"error"'):
        return None
    try:
        error = json.loads(piece)["error"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return None
    return f"{error.get('type')}:{error.get('param')}"


async def guarded_stream(guard: "Guardrails", deltas: AsyncIterator[str], *, question: str,
                         chunks: Sequence, model: str) -> AsyncIterator[OutputEvent]:
    """Yield checked :class:`OutputEvent` pieces, then a final event with the whole answer's verdict."""
    with limited_threads(guard.config.torch_threads):  # NeMo embeds on first use, like the fact check
        async for event in _stream(guard, deltas, question=question, chunks=chunks, model=model):
            yield event


async def _stream(guard: "Guardrails", deltas: AsyncIterator[str], *, question: str,
                  chunks: Sequence, model: str) -> AsyncIterator[OutputEvent]:
    timings: dict[str, float] = {}
    flags: list[str] = []
    masker = _Masker(guard, timings, flags)
    facts = _FactChecker(guard, chunks)

    def release(text: str, *, flush: bool = False) -> str:
        out = masker.flush() if flush else masker.feed(text)
        facts.add(out)
        return out

    source = aiter(deltas)
    consumed: list[str] = []
    fed = 0
    waited = 0.0

    async def tap() -> AsyncIterator[str]:
        nonlocal waited
        while True:
            start = time.perf_counter()
            try:
                delta = await anext(source)
            except StopAsyncIteration:
                return
            finally:
                waited += time.perf_counter() - start
            consumed.append(delta)
            yield delta

    started = time.perf_counter()
    use_nemo = guard.config.enabled and guard.config.self_check_output
    while True:
        stream = (guard.pool.get(model).stream_async(messages=[{"role": "user", "content": question}],
                                                     generator=tap()) if use_nemo else tap())
        blocked = None
        async for piece in stream:
            blocked = _blocked_flow(piece)
            if blocked:
                break
            fed += len(piece)
            out = release(piece)
            if out:
                yield OutputEvent(out)
        if blocked is None:
            break
        held = "".join(consumed)[fed:]
        fed += len(held)
        so_far = "".join(masker.shown) + masker.pending + held
        if blocked.startswith("guardrails_violation") and guard.output_block_corroborated(so_far, flags):
            timings["output.self_check"] = _overhead(started, waited, timings)
            verdict = RailVerdict.refuse("output.self_check", "".join(masker.shown), timings, flags)
            facts.cancel()
            yield OutputEvent("", blocked=True, verdict=verdict)
            return
        if not blocked.startswith("guardrails_violation") and guard.output_check_unavailable(blocked, flags):
            timings["output.self_check"] = _overhead(started, waited, timings)
            verdict = RailVerdict.refuse("output.self_check_unavailable", "".join(masker.shown), timings, flags)
            facts.cancel()
            yield OutputEvent("", blocked=True, verdict=verdict)
            return
        out = release(held)
        if out:
            yield OutputEvent(out)
    tail = release("", flush=True)
    if tail:
        yield OutputEvent(tail)
    if use_nemo:
        timings["output.self_check"] = _overhead(started, waited, timings)
    answer = "".join(masker.shown)
    refusal = None
    if facts.enabled:
        start = time.perf_counter()
        result = await facts.result()
        timings["output.fact_check"] = (time.perf_counter() - start) * 1000  # the wait it adds at the end
        timings["output.fact_check_busy"] = facts.busy_ms
        refusal = guard.fact_verdict(result, answer, timings, flags)
    if refusal is not None:
        yield OutputEvent("", blocked=True, verdict=refusal)
        return
    rail = "output.masking" if any(f.endswith("_masked") for f in flags) else None
    yield OutputEvent("", verdict=RailVerdict(True, answer, rail=rail, flags=flags, timings_ms=timings))


def _overhead(started: float, waited: float, timings: dict[str, float]) -> float:
    """Time spent in the streaming rails: elapsed minus waiting for deltas minus masking."""
    elapsed = (time.perf_counter() - started - waited) * 1000
    return max(0.0, elapsed - timings.get("output.masking", 0.0))

