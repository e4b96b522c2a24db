"""Generation and streaming against the real vLLM server."""

from __future__ import annotations

import time

import pytest

from engine.llm_client import LLMClient, LLMError, LLMUnavailable
from engine.process import free_port

MESSAGES = [{"role": "user", "content": "Name one colour."}]


async def test_chat_returns_text_and_usage(engine_settings) -> None:
    async with LLMClient.from_settings(engine_settings.engine) as client:
        gen = await client.chat(MESSAGES, model=engine_settings.engine.served_model_name, max_tokens=8, logprobs=True)
    assert gen.text.strip()
    assert 0 < gen.completion_tokens <= 8
    assert len(gen.token_logprobs) == gen.completion_tokens
    assert all(lp <= 0 for lp in gen.token_logprobs)


async def test_stream_yields_deltas_then_final_generation_with_ttft(engine_settings) -> None:
    async with LLMClient.from_settings(engine_settings.engine) as client:
        deltas = [d async for d in client.stream_chat(
            MESSAGES, model=engine_settings.engine.served_model_name, max_tokens=12, ignore_eos=True)]
    pieces, final = deltas[:-1], deltas[-1]
    assert len(pieces) >= 2, "streaming must deliver the answer in several pieces"
    assert final.done and final.generation is not None
    assert final.generation.text == "".join(p.text for p in pieces)
    assert final.generation.completion_tokens == 12
    assert 0 < final.generation.ttft_ms < final.generation.total_ms


async def test_unknown_model_is_a_clear_error(engine_settings) -> None:
    async with LLMClient.from_settings(engine_settings.engine) as client:
        with pytest.raises(LLMError, match="404|does not exist|not found"):
            await client.chat(MESSAGES, model="no-such-adapter", max_tokens=4)


async def test_unreachable_server_retries_with_backoff_then_fails() -> None:
    client = LLMClient(f"http://127.0.0.1:{free_port()}", retries=2, backoff_s=0.2)
    start = time.monotonic()
    with pytest.raises(LLMUnavailable, match="unreachable"):
        await client.chat(MESSAGES, model="x", max_tokens=4)
    elapsed = time.monotonic() - start
    await client.aclose()
    assert elapsed >= 0.2 + 0.4 - 0.05, "two retries with exponential backoff were expected"
