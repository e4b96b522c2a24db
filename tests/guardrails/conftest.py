"""Fixtures for the guardrails tests: rails on the real vLLM, the corpus, a recording OpenAI server."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from engine.process import free_port
from guardrails import Guardrails
from guardrails.corpus import Case, load_corpus
from guardrails.detector_train import Row, corpus_rows

BASE_MODEL = "ratchet-base"


@pytest.fixture
def guard(engine_settings) -> Guardrails:
    """Rails with the packaged config, attached to the session's vLLM, fresh database."""
    g = Guardrails(engine_settings)
    g.warm_up()
    return g


@pytest.fixture(scope="session")
def corpus() -> list[Case]:
    """The attack and benign corpus (tests/guardrails/corpus)."""
    return load_corpus()


class RecordingOpenAI:
    """A local OpenAI-compatible server that records each chat request and answers ``reply``."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.reply = "No"
        self.delay_s = 0.0
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    async def chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        await asyncio.sleep(self.delay_s)
        return web.json_response({
            "id": "x", "object": "chat.completion", "created": 0, "model": body.get("model"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": self.reply}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        })

    def prompts(self) -> list[str]:
        """The text of every recorded request (all messages joined)."""
        return ["\n".join(m.get("content") or "" for m in r.get("messages", [])) for r in self.requests]


@pytest.fixture
async def recording_openai() -> AsyncIterator[RecordingOpenAI]:
    """The recording server, running for one test."""
    server = RecordingOpenAI()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", server.chat)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", server.port)
    await site.start()
    try:
        yield server
    finally:
        await runner.cleanup()


def corpus_slice(split: str, per_label: int, seed: int = 3) -> list[Row]:
    """A reproducible slice of the labelled corpus: ``per_label`` rows per attack family, three times as many
    benign ones (for detector trainings that must take seconds)."""
    rng = random.Random(seed)
    rows = corpus_rows()
    picked = []
    for label in ("jailbreak", "prompt_extraction", "harmful", "benign"):
        pool = [r for r in rows if r.split == split and r.label == label]
        picked += rng.sample(pool, min(len(pool), per_label * (3 if label == "benign" else 1)))
    return picked
