"""Odd input reaches the pipeline as a question it can read: binary junk and lone surrogates never raise in a
tokenizer, and a question longer than the model can read is refused as too long — not reported as a model
that is not answering. Real guardrails (local rails), the model's real tokenizer; no vLLM, no Weaviate."""

from __future__ import annotations

import random

import pytest

from bot import messages
from bot.answers import Question
from bot.pipeline import Pipeline
from engine.process import free_port


@pytest.fixture
async def pipeline(make_settings):
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: the search is down, the question still gets a reply
    settings = make_settings(engine={"vllm_url": dead},
                             rag={"weaviate_url": dead, "weaviate_http_port": free_port(),
                                  "weaviate_grpc_port": free_port()},
                             guardrails={"self_check_input": False}, bot={"max_question_tokens": 300})
    pipe = Pipeline(settings)
    yield pipe
    await pipe.aclose()


async def test_lone_surrogates_and_control_characters_do_not_break_the_rails(pipeline) -> None:
    for text in ["VPN\x00\x01\x02\u202e\ufeff\udbff access?", "\u0000" * 100 + "leave?", "\udc80\udcff" * 50]:
        answer = await pipeline.answer(Question(text=text))
        assert answer.error != "internal" and answer.text != messages.INTERNAL_ERROR, (text, answer.text)


async def test_binary_junk_gets_a_rejection_or_an_answer_never_an_error(pipeline) -> None:
    rng = random.Random(12)
    junk = bytes(rng.randrange(256) for _ in range(2000)).decode("latin-1")
    answer = await pipeline.answer(Question(text=junk))
    assert answer.error is None and answer.refused, answer.text


async def test_a_question_longer_than_the_model_can_read_is_refused_as_too_long(pipeline) -> None:
    text = " ".join(f"x{i}" for i in range(700))  # ~3,400 characters: under the character limit, ~1,400 tokens
    assert len(text) < pipeline.settings.bot.max_question_chars
    answer = await pipeline.answer(Question(text=text))
    assert answer.refused and answer.refusal_rail == "too_long" and answer.error is None, answer.text
    assert "too long for the model" in answer.text and "at most 300" in answer.text
