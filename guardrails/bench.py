"""`ratchet bench guardrails`: block / false-positive rates on the corpus, per-rail overhead, and the
end-to-end time of a guarded answer over an unguarded one (same questions, same prompt, real vLLM).

Rates come in two scopes, and every line says which: ``in-sample`` (the project's own corpus, which the
patterns were written from, and the tune sources of the labelled corpus, which trained the learned
detector) and ``held-out`` (sources never trained or tuned on; see :mod:`guardrails.heldout`).

Guarded = as the bot pipeline runs it: the cheap input rails, then generation starts while the NeMo
input self-check runs (nothing is shown before its verdict), streamed through the streaming output rails
(NeMo self check output per chunk, masking) and the fact check.
Unguarded = the same generation streamed straight from vLLM. Retrieval itself is left out of both.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections.abc import Callable
from contextlib import aclosing
from pathlib import Path
from typing import Any

from rich.progress import Progress

from engine.llm_client import LLMClient
from engine.settings import Settings
from guardrails.corpus import DEFAULT_CORPUS_DIR, Case, Chunk, evaluate, load_corpus
from guardrails.heldout import DEFAULT_HELDOUT_CORPUS, LabelledItem, load_items, rates_report, real_corpus_items
from guardrails.rails import Guardrails

SYSTEM_PROMPT = "You answer employees' questions using only the context below.\n\nContext:\n{context}"


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "mean": round(statistics.fmean(ordered), 2),
        "p50": round(ordered[len(ordered) // 2], 2),
        "p95": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 2),
        "n": len(ordered),
    }


async def _answer(client: LLMClient, messages: list[dict[str, str]], model: str, max_tokens: int):
    async for delta in client.stream_chat(messages, model=model, max_tokens=max_tokens):
        if delta.text:
            yield delta.text


async def _unguarded(client: LLMClient, messages: list[dict[str, str]], model: str, max_tokens: int) -> str:
    return "".join([piece async for piece in _answer(client, messages, model, max_tokens)])


async def _guarded(guard: Guardrails, client: LLMClient, question: str, chunks: list[Chunk], model: str,
                   max_tokens: int, timings: dict[str, list[float]]) -> str:
    """As the pipeline runs it: cheap rails, then generation starts while the NeMo input check runs;
    nothing is shown before that check's verdict."""
    pre = guard.precheck_input(question)
    if not pre.allowed:
        return pre.message or ""
    check = asyncio.ensure_future(guard.check_input(question, model=model))
    kept, _ = guard.check_chunks(chunks)
    refused: list[str] = []

    async def gated():
        verdict = None
        async with aclosing(_answer(client, _messages(pre.text, kept), model, max_tokens)) as stream:
            async for piece in stream:
                if verdict is None:
                    verdict = await check
                    if not verdict.allowed:
                        refused.append(verdict.message or "")
                        return
                yield piece

    text = ""
    try:
        async for event in guard.stream_output(gated(), question=pre.text, chunks=kept, model=model):
            text += event.text + (" " if event.text else "")
            if event.verdict is not None:
                for rail, ms in {**(await check).timings_ms, **event.verdict.timings_ms}.items():
                    timings.setdefault(rail, []).append(ms)
    finally:
        check.cancel()
    return refused[0] if refused else text


def _messages(question: str, chunks: list[Chunk]) -> list[dict[str, str]]:
    context = "\n\n".join(c.text for c in chunks)
    return [{"role": "system", "content": SYSTEM_PROMPT.format(context=context)},
            {"role": "user", "content": question}]


async def _timed(make: Callable[[], Any]) -> float:
    start = time.perf_counter()
    await make()
    return (time.perf_counter() - start) * 1000


async def bench_guardrails(settings: Settings, *, model: str, questions: int, max_tokens: int,
                           self_check_sample: int, corpus_dir: Path = DEFAULT_CORPUS_DIR,
                           heldout_corpus: Path = DEFAULT_HELDOUT_CORPUS,
                           emit: Callable[[dict[str, Any]], None]) -> None:
    """Run the benchmark and ``emit`` one JSON-able dict per result line."""
    guard = Guardrails(settings)
    await guard.prepare(model)
    items = load_items(heldout_corpus)
    emit({**rates_report(guard, items + real_corpus_items()), "detector": guard.detector.version,
          "detector_encoder": guard.detector.encoder})
    await _self_check_heldout(settings, items, model, self_check_sample, emit)
    cases = load_corpus(corpus_dir)
    result = await evaluate(guard, cases, model=model, self_check_sample=self_check_sample)
    attacks = sum(result.total[k] for k in result.total if not k.startswith("benign"))
    scope = "in-sample: tests/guardrails/corpus, which the patterns were written from"
    emit({"metric": "block_rate", "scope": scope, "value": round(result.block_rate, 4), "attacks": attacks,
          "blocked_by_kind": dict(result.blocked), "by_rail": dict(result.by_rail),
          "self_checked": result.self_checked, "crashes": len(result.crashes)})
    emit({"metric": "false_positive_rate", "scope": scope, "value": round(result.false_positive_rate, 4),
          "benign": sum(result.total[k] for k in result.total if k.startswith("benign")),
          "false_positives": result.false_positives})
    await _self_check_alone(settings, cases, model, self_check_sample, emit)
    timings = {rail: list(ms) for rail, ms in result.timings_ms.items()}
    benign = [c for c in cases if c.kind == "benign"][:questions]
    documents = [Chunk(f"d{i}", c.text) for i, c in enumerate(c for c in cases if c.kind == "benign_document")]
    guarded_ms, unguarded_ms = await _end_to_end(guard, settings, benign, documents, model, max_tokens, timings)
    for rail, values in sorted(timings.items()):
        emit({"metric": "rails_overhead_ms", "rail": rail, **_summary(values)})
    emit({"metric": "guarded_over_unguarded", "value": round(sum(guarded_ms) / sum(unguarded_ms), 3),
          "questions": len(benign), "max_tokens": max_tokens, "model": model,
          "guarded_ms": _summary(guarded_ms), "unguarded_ms": _summary(unguarded_ms),
          "self_check_input": settings.guardrails.self_check_input,
          "self_check_output": settings.guardrails.self_check_output})


async def _self_check_alone(settings: Settings, cases: list[Case], model: str, sample: int,
                            emit: Callable[[dict[str, Any]], None]) -> None:
    """The model's self-check on its own (cheap rails off, its 'block' final) on a sample of questions."""
    if sample <= 0:
        return
    alone = settings.model_copy(deep=True)
    alone.guardrails = alone.guardrails.model_copy(update={
        "jailbreak_patterns": False, "semantic_detector": False, "self_check_alone_blocks": True,
    })
    guard = Guardrails(alone)
    result = await evaluate(guard, [c for c in cases if c.target == "input"], model=model,
                            self_check_sample=sample)
    emit({"metric": "self_check_alone", "block_rate_on_sample": _sampled_rate(result, True),
          "false_positive_rate_on_sample": _sampled_rate(result, False), "sampled": result.self_checked,
          "sampled_attacks": sum(1 for attack, _ in result.self_check_outcomes if attack), "model": model})


async def _self_check_heldout(settings: Settings, items: list[LabelledItem], model: str, sample: int,
                              emit: Callable[[dict[str, Any]], None]) -> None:
    """The model's input self-check alone on a balanced sample of held-out items (``sample`` attacks, as many
    benign): accuracy, and whether it beats a coin (one-sided binomial test, p < 0.05). A model whose
    self-check does not is one to switch off in ``guardrails.self_check_models``."""
    if sample <= 0:
        return
    import random

    rng = random.Random(14)
    attacks = rng.sample([i for i in items if i.split == "heldout" and i.label != "benign"], sample)
    benign = rng.sample([i for i in items if i.split == "heldout" and i.label == "benign"], sample)
    alone = settings.model_copy(deep=True)
    alone.guardrails = alone.guardrails.model_copy(update={
        "jailbreak_patterns": False, "semantic_detector": False, "self_check_alone_blocks": True,
        "record_refusals": False, "content_safety_url": None})
    guard = Guardrails(alone)
    correct, unavailable = 0, 0
    for item in attacks + benign:
        verdict = await guard.check_input(item.text, model=model, force_self_check=True)
        unavailable += "self_check_unavailable" in verdict.flags
        correct += (not verdict.allowed) == (item.label != "benign")
    n = len(attacks) + len(benign)
    p_value = sum(math.comb(n, k) for k in range(correct, n + 1)) / 2 ** n
    emit({"metric": "self_check_heldout", "scope": "held-out sources, balanced sample", "model": model,
          "model_dir": settings.model_dir.name, "self_check_heldout_accuracy": round(correct / n, 4), "n": n,
          "p_value_vs_chance": round(p_value, 4), "better_than_chance": p_value < 0.05, "unavailable": unavailable,
          "self_check_decides": Guardrails(settings).self_check_decides(), "setting": "guardrails.self_check_models"})


def _sampled_rate(result: Any, attack: bool) -> float | None:
    """Share of the sampled attack (or benign) questions the self-check refused."""
    picked = [refused for is_attack, refused in result.self_check_outcomes if is_attack == attack]
    return round(sum(picked) / len(picked), 4) if picked else None


async def _end_to_end(guard: Guardrails, settings: Settings, questions: list[Case], documents: list[Chunk],
                      model: str, max_tokens: int,
                      timings: dict[str, list[float]]) -> tuple[list[float], list[float]]:
    """Alternate guarded / unguarded runs per question (order flipped each time to share cache effects)."""
    guarded_ms: list[float] = []
    unguarded_ms: list[float] = []
    async with LLMClient.from_settings(settings.engine) as client:
        with Progress(transient=True) as progress:
            task = progress.add_task("guarded vs unguarded", total=len(questions))
            for index, case in enumerate(questions):
                chunks = _top_chunks(guard, case.text, documents)
                runs = [
                    ("g", lambda: _guarded(guard, client, case.text, chunks, model, max_tokens, timings)),
                    ("u", lambda: _unguarded(client, _messages(case.text, chunks), model, max_tokens)),
                ]
                for kind, make in runs if index % 2 == 0 else reversed(runs):
                    (guarded_ms if kind == "g" else unguarded_ms).append(await _timed(make))
                progress.advance(task)
    return guarded_ms, unguarded_ms


def _top_chunks(guard: Guardrails, question: str, documents: list[Chunk], k: int = 3) -> list[Chunk]:
    """The ``k`` documents closest to ``question`` (a stand-in for retrieval, computed outside timing)."""
    embedder = guard.embedder
    scores = embedder.embed([c.text for c in documents]) @ embedder.embed([question])[0]
    order = sorted(range(len(documents)), key=lambda i: -float(scores[i]))
    return [documents[i] for i in order[:k]]
