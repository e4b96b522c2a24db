"""Output rails: masking, grounding sentence by sentence, and NeMo self check output only on unsupported text."""

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
    assert " ".join(e.text for e in events[:-1]) == final.verdict.text
    assert all(e.source == 0 for e in events[:-1])  # every released sentence is backed by the one chunk
    assert final.claims == len(events) - 1 + final.held_back
    assert "output.self_check" not in final.verdict.timings_ms  # hide mode: nothing for a self-check to decide


async def test_stream_masks_a_secret_split_across_deltas(make_settings) -> None:
    guard = Guardrails(make_settings(guardrails={"self_check_output": False, "fact_check": False}))
    parts = ["Sure. The admin ", "password is ", "hunter2xyz. Key AKIA", "IOSFODNN7EXAMPLE is used."]
    events = [e async for e in guard.stream_output(_pieces(parts), question="q", chunks=[], model="m")]
    shown = "".join(e.text for e in events)
    assert "hunter2xyz" not in shown and "AKIAIOSFODNN7EXAMPLE" not in shown
    assert "[SECRET:aws_key]" in shown and "secrets_masked" in events[-1].verdict.flags


async def test_unsupported_sentences_are_held_back_without_a_model_call(make_settings, recording_openai) -> None:
    recording_openai.reply = "Yes"
    guard = Guardrails(make_settings(engine={"vllm_url": recording_openai.url}))
    parts = ["Full-time employees receive 25 days ", "of paid vacation per year. ", "You also get a free ",
             "company car and a yacht. Requests go through the HR portal."]
    events = [e async for e in guard.stream_output(_pieces(parts), question=QUESTION, chunks=CHUNKS, model="m")]
    released, final = events[:-1], events[-1]
    assert [e.text for e in released] == ["Full-time employees receive 25 days of paid vacation per year.",
                                          "Requests go through the HR portal."]
    assert all(e.source == 0 for e in released)
    assert final.held_back == 1 and final.claims == 3 and final.unsupported == []
    assert "unverified" in final.verdict.flags and "yacht" not in final.verdict.text
    assert recording_openai.requests == []  # the self-check could not change what is shown: never called


@pytest.mark.parametrize(("reply", "shown"), [("Yes", False), ("No", True)])
async def test_mark_mode_self_checks_only_the_unsupported_text(make_settings, recording_openai, reply: str,
                                                               shown: bool) -> None:
    recording_openai.reply = reply
    guard = Guardrails(make_settings(engine={"vllm_url": recording_openai.url},
                                     guardrails={"unsupported_text": "mark", "self_check_alone_blocks": True}))
    parts = ["Full-time employees receive 25 days of paid vacation per year. ",
             "You also get a free company car."]
    events = [e async for e in guard.stream_output(_pieces(parts), question=QUESTION, chunks=CHUNKS, model="m")]
    final = events[-1]
    assert len(recording_openai.requests) == 1
    assert "company car" in recording_openai.prompts()[0] and "25 days" not in recording_openai.prompts()[0]
    assert final.unsupported == (["You also get a free company car."] if shown else [])
    assert ("unsupported_blocked" in final.verdict.flags) is (not shown)
