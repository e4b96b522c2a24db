"""Services down: the user gets a clear message within the service timeout, and the bot recovers by itself."""

from __future__ import annotations

import time
from urllib.parse import urlparse

import pytest

from bot.answers import Question
from bot.pipeline import Pipeline
from tests.bot.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.vllm, pytest.mark.weaviate]
QUESTION = "How do I get VPN access?"


async def _timed_answer(pipeline: Pipeline, text: str = QUESTION):
    start = time.monotonic()
    answer = await pipeline.answer(Question(text=text, source="cli"))
    return answer, time.monotonic() - start


async def test_model_down_gives_clear_message_within_5s_then_recovers(bot_settings, vllm_url):
    proxy = await TcpProxy(urlparse(vllm_url).port).up()
    settings = bot_settings(engine={"vllm_url": f"http://127.0.0.1:{proxy.port}"}, bot={"service_timeout_s": 5.0},
                            guardrails={"self_check_input": False})
    pipeline = Pipeline(settings)
    try:
        assert await pipeline.warm_up()
        await proxy.down()
        answer, seconds = await _timed_answer(pipeline)
        assert answer.error == "model" and "language model is not answering" in answer.text
        assert seconds < 5.5
        await proxy.up()
        answer, _ = await _timed_answer(pipeline)
        assert answer.error is None and answer.text and answer.citations
    finally:
        await proxy.down()
        await pipeline.aclose()


async def test_weaviate_down_gives_clear_message_within_5s_then_recovers(bot_settings, weaviate_endpoint):
    http = await TcpProxy(weaviate_endpoint["http_port"]).up()
    grpc = await TcpProxy(weaviate_endpoint["grpc_port"]).up()
    settings = bot_settings(
        rag={"weaviate_url": f"http://127.0.0.1:{http.port}", "weaviate_http_port": http.port,
             "weaviate_grpc_port": grpc.port},
        bot={"service_timeout_s": 5.0, "answer_max_tokens": 8},
    )
    pipeline = Pipeline(settings)
    await http.down()
    await grpc.down()
    try:
        answer, seconds = await _timed_answer(pipeline)  # down from the start: never connected
        assert answer.error == "search" and "document search is not answering" in answer.text
        assert seconds < 5.5
        await http.up()
        await grpc.up()
        answer, _ = await _timed_answer(pipeline)
        assert answer.error is None and answer.citations
    finally:
        await http.down()
        await grpc.down()
        await pipeline.aclose()
