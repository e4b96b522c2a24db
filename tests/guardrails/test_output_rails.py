"""Output rails: masking, NeMo self check output, fact check, and streaming with per-chunk checks."""

from __future__ import annotations

import pytest

from engine.llm_client import LLMClient
from guardrails import Guardrails
from guardrails.corpus import Chunk
BASE_MODEL = "ratchet-base"

CHUNKS = [Chunk("v", "Vacation policy. Full-time employees receive 25 days of paid vacation per year. "
                     "Requests go through the HR portal.")]
QUESTION = "How many vacation days do I get?"


async def _pieces(parts: list[str]):
    for part in parts:
        yield part


@pytest.mark.vllm
async def test_check_output_masks_and_fact_checks(guard) -> None:
    grounded = await guard.check_output("You get 25 days of paid vacation per year. Ask bob@example.com.",
                                        question=QUESTION, chunks=CHUNKS, model=BASE_MODEL)
    assert grounded.allowed and "unverified" not in grounded.flags
    assert "[PII:email]" in grounded.text and "pii_masked" in grounded.flags
    assert {"output.masking", "output.self_check", "output.fact_check"} <= set(grounded.timings_ms)
    invented = await guard.check_output("You get 40 days of vacation and a free company car.",
                                        question=QUESTION, chunks=CHUNKS, model=BASE_MODEL)
    assert invented.allowed and "unverified" in invented.flags and invented.rail == "output.fact_check"


async def test_fact_check_can_block(make_settings) -> None:
    guard = Guardrails(make_settings(guardrails={"fact_check_action": "block", "self_check_output": False}))
    verdict = await guard.check_output("Everyone gets 40 days off and a yacht.", question=QUESTION,
                                       chunks=CHUNKS, model=BASE_MODEL)
    assert not verdict.allowed and verdict.rail == "output.fact_check"
    assert "documents" in verdict.message


@pytest.mark.vllm
async def test_stream_output_checks_a_real_vllm_stream(guard, vllm_url) -> None:
    messages = [{"role": "system", "content": "Answer from this context: " + CHUNKS[0].text},
                {"role": "user", "content": QUESTION}]
    async with LLMClient(vllm_url) as client:
        async def deltas():
            async for delta in client.stream_chat(messages, model=BASE_MODEL, max_tokens=48):
                if delta.text:
                    yield delta.text

        events = [e async for e in guard.stream_output(deltas(), question=QUESTION, chunks=CHUNKS,
                                                       model=BASE_MODEL)]
    final = events[-1]
    assert final.verdict is not None and final.verdict.allowed and not final.blocked
    assert "".join(e.text for e in events[:-1]) == final.verdict.text and final.verdict.text
    assert final.verdict.timings_ms["output.self_check"] >= 0


async def test_stream_masks_a_secret_split_across_deltas(make_settings) -> None:
    guard = Guardrails(make_settings(guardrails={"self_check_output": False, "fact_check": False}))
    parts = ["Sure. The admin ", "password is ", "hunter2xyz. Key AKIA", "IOSFODNN7EXAMPLE is used."]
    events = [e async for e in guard.stream_output(_pieces(parts), question="q", chunks=[], model="m")]
    shown = "".join(e.text for e in events)
    assert "hunter2xyz" not in shown and "AKIAIOSFODNN7EXAMPLE" not in shown
    assert "[SECRET:aws_key]" in shown and "secrets_masked" in events[-1].verdict.flags


async def test_stream_blocked_chunk_is_never_shown(make_settings, recording_openai) -> None:
    recording_openai.reply = "Yes"
    guard = Guardrails(make_settings(engine={"vllm_url": recording_openai.url},
                                     guardrails={"self_check_alone_blocks": True, "stream_chunk_size": 4,
                                                 "stream_context_size": 0, "fact_check": False}))
    parts = ["Word "] * 10
    events = [e async for e in guard.stream_output(_pieces(parts), question="q", chunks=[], model="m")]
    assert len(events) == 1 and events[0].blocked
    assert events[0].verdict.rail == "output.self_check" and events[0].verdict.text == ""
    assert "stopped" in events[0].verdict.message
    assert len(recording_openai.requests) == 1  # the first chunk was checked, then the stream stopped


async def test_stream_checks_every_chunk_and_overrules_an_uncorroborated_block(make_settings,
                                                                               recording_openai) -> None:
    recording_openai.reply = "Yes"
    guard = Guardrails(make_settings(engine={"vllm_url": recording_openai.url},
                                     guardrails={"stream_chunk_size": 4, "stream_context_size": 0,
                                                 "fact_check": False}))
    parts = [f"w{i} " for i in range(12)]
    events = [e async for e in guard.stream_output(_pieces(parts), question="q", chunks=[], model="m")]
    assert "".join(e.text for e in events) == "".join(parts)
    assert "self_check_overruled" in events[-1].verdict.flags
    assert len(recording_openai.requests) == 3  # one self-check per chunk of 4 deltas
