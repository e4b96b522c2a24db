"""The model's deadline tells "not answering" from "still reading a long prompt".

Real long chunks (pages of Python's documentation from python3-doc, as `ratchet bench answers` ingests them),
a real vLLM kept busy by other long prompts, and a service timeout shorter than the first token takes: every
question is answered, none is reported "not answering". A hung model (connections accepted, nothing answered,
health included) is still reported within the timeout.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from urllib.parse import urlparse

import pytest

from bot.answers import Question
from bot.bench_answers import corpus_pages, docs_dir
from bot.pipeline import Pipeline
from engine.llm_client import LLMClient
from engine.rag import ingest_paths
from tests.bot.tcp_proxy import TcpProxy

PAGES = ("library/json.html", "library/pathlib.html", "tutorial/venv.html")
QUESTIONS = ["How do I make a virtual environment for my project?", "How do I pretty-print JSON with indentation?",
             "How do I create a directory including any missing parent directories with pathlib?",
             "What does json.dumps do with non-ASCII characters by default?"]


@pytest.fixture(scope="module")
def docs_collection(weaviate_endpoint, model_dir, tmp_path_factory) -> str:
    from engine.settings import Settings

    pages = [str(p) for p in corpus_pages(docs_dir()) if any(str(p).endswith("/" + page) for page in PAGES)]
    assert len(pages) == len(PAGES), "python3-doc pages missing (make test installs python3-doc)"
    collection = f"LongDocs{uuid.uuid4().hex[:8]}"
    settings = Settings(data_dir=tmp_path_factory.mktemp("docs"), engine={"model_dir": str(model_dir)},
                        rag={"weaviate_url": weaviate_endpoint["url"], "weaviate_host": weaviate_endpoint["host"],
                             "weaviate_http_port": weaviate_endpoint["http_port"],
                             "weaviate_grpc_port": weaviate_endpoint["grpc_port"]})
    ingest_paths(settings, pages, collection=collection, show_progress=False)
    return collection


async def _busy(llm: LLMClient, prompt: list[dict[str, str]], model: str, stop: asyncio.Event) -> None:
    """Keep the model prefilling long prompts until ``stop``."""
    while not stop.is_set():
        tag = uuid.uuid4().hex  # no prefix-cache hit: every request prefills in full
        await llm.chat([{**prompt[0], "content": f"{tag} {prompt[0]['content']}"}, *prompt[1:]],
                       model=model, max_tokens=8)


async def test_long_prompts_on_a_busy_model_are_answered_not_reported_down(bot_settings, docs_collection) -> None:
    settings = bot_settings(rag={"collection": docs_collection},
                            bot={"service_timeout_s": 2.0, "answer_max_tokens": 16})
    pipeline = Pipeline(settings)
    llm = LLMClient.from_settings(settings.engine)
    stop = asyncio.Event()
    try:
        assert await pipeline.warm_up()
        first = await pipeline.answer(Question(text=QUESTIONS[0], source="cli"))
        assert first.error is None, first.text
        prompt = pipeline._components.feedback.get(first.answer_id).prompt  # noqa: SLF001 - the real long prompt
        assert len(prompt[0]["content"]) > 3000, "the chunks of real pages make a long prompt"
        load = [asyncio.create_task(_busy(llm, prompt, settings.engine.served_model_name, stop)) for _ in range(6)]
        await asyncio.sleep(1.0)
        answers = await asyncio.gather(*(pipeline.answer(Question(text=q, source="cli")) for q in QUESTIONS * 2))
        stop.set()
        await asyncio.gather(*load)
        assert [a.error for a in answers] == [None] * len(answers), [a.text for a in answers if a.error]
        ttfts = [pipeline._components.feedback.get(a.answer_id).timings_ms.get("model_ttft", 0)  # noqa: SLF001
                 for a in answers if a.answer_id]
        assert max(ttfts) > 2000, f"the first token came within the service timeout every time ({ttfts})"
    finally:
        stop.set()
        await llm.aclose()
        await pipeline.aclose()


async def test_a_hung_model_is_reported_within_the_timeout(bot_settings, vllm_url, docs_collection) -> None:
    proxy = await TcpProxy(urlparse(vllm_url).port).up()
    settings = bot_settings(engine={"vllm_url": f"http://127.0.0.1:{proxy.port}"},
                            rag={"collection": docs_collection}, bot={"service_timeout_s": 3.0},
                            guardrails={"self_check_input": False})
    pipeline = Pipeline(settings)
    try:
        assert await pipeline.warm_up()
        proxy.stalled = True
        start = time.monotonic()
        answer = await pipeline.answer(Question(text=QUESTIONS[1], source="cli"))
        assert answer.error == "model" and "not answering" in answer.text
        assert time.monotonic() - start < 3.0 + 1.5
    finally:
        await proxy.down()
        await pipeline.aclose()
