"""Fixtures for the Slack bot scenarios: a fake Slack Web API, a small ingested corpus, a running bot."""

from __future__ import annotations

import json
import uuid
import httpx
import pytest

from bot.slack.app import RatchetSlackApp
from engine.process import free_port
from bot.testing.fake_slack import FakeSlack
from tests.bot.slack_payloads import SIGNING_SECRET, signed_headers

CORPUS = {
    "vpn.md": "# VPN access\n\n## Requesting access\n\nTo get VPN access, open a ticket in the IT portal "
              "under 'Network > VPN'. Access is granted within one business day. The VPN client is "
              "called Tunnelblick.\n",
    "holidays.md": "# Holidays\n\n## Paid leave\n\nEvery employee has 27 days of paid leave per year. "
                   "Unused days expire on March 31 of the following year.\n",
}
SECRET_DOC = {"salaries.md": "# Salaries\n\n## Bands\n\nThe engineering salary band E5 is secret-band-zebra.\n"}


@pytest.fixture(scope="session")
def corpus_collection(tmp_path_factory, weaviate_endpoint, model_dir) -> str:
    """A fresh Weaviate collection with a public corpus and one HR-only document."""
    from engine.rag import ingest_paths
    from engine.settings import Settings

    root = tmp_path_factory.mktemp("corpus")
    (root / "public").mkdir()
    (root / "hr").mkdir()
    for name, text in CORPUS.items():
        (root / "public" / name).write_text(text)
    for name, text in SECRET_DOC.items():
        (root / "hr" / name).write_text(text)
    collection = f"BotDocs{uuid.uuid4().hex[:8]}"
    settings = Settings(data_dir=root / "data", engine={"model_dir": str(model_dir)}, rag=_rag(weaviate_endpoint))
    ingest_paths(settings, [root / "public"], collection=collection, show_progress=False)
    ingest_paths(settings, [root / "hr"], collection=collection, acl=["hr"], show_progress=False)
    return collection


def _rag(endpoint: dict) -> dict:
    return {"weaviate_url": endpoint["url"], "weaviate_host": endpoint["host"],
            "weaviate_http_port": endpoint["http_port"], "weaviate_grpc_port": endpoint["grpc_port"]}


@pytest.fixture
async def fake_slack():
    slack = await FakeSlack().start()
    yield slack
    await slack.stop()


@pytest.fixture
def bot_settings(make_settings, vllm_url, weaviate_endpoint, corpus_collection, fake_slack):
    """Settings for a bot on the real vLLM + Weaviate, talking to the fake Slack; kwargs override sections."""

    def make(**overrides):
        sections = {
            "engine": {"vllm_url": vllm_url, "temperature": 0.0},
            "rag": {**_rag(weaviate_endpoint), "collection": corpus_collection, "cache_enabled": False,
                    "min_score": 0.0},
            "bot": {"slack_api_url": fake_slack.api_url, "slack_bot_token": "xoxb-test",
                    "slack_signing_secret": SIGNING_SECRET, "mode": "http", "answer_max_tokens": 24,
                    "stream_edit_interval_s": 0.3, "service_timeout_s": 30.0,
                    "user_groups": {"U0HRBOB": ["hr"]}},
            "admin": {"admin_user_ids": ["U0ADMIN"]},
        }
        for key, value in overrides.items():
            sections[key] = {**sections.get(key, {}), **value}
        return make_settings(**sections)

    return make


class BotHarness:
    """A RatchetSlackApp served over HTTP on a loopback port, and helpers to post signed requests."""

    def __init__(self, bot: RatchetSlackApp, url: str, runner) -> None:
        self.bot = bot
        self.url = url
        self.runner = runner
        self.http = httpx.AsyncClient(timeout=30)

    async def post_event(self, body: dict, *, retry_num: int | None = None) -> httpx.Response:
        raw = json.dumps(body)
        headers = signed_headers(raw)
        if retry_num is not None:
            headers |= {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        return await self.http.post(self.url, content=raw, headers=headers)

    async def post_form(self, raw: str) -> httpx.Response:
        headers = signed_headers(raw, content_type="application/x-www-form-urlencoded")
        return await self.http.post(self.url, content=raw, headers=headers)

    async def close(self) -> None:
        await self.bot.drain()
        await self.http.aclose()
        await self.runner.cleanup()
        await self.bot.pipeline.aclose()


@pytest.fixture
async def bots():
    """Factory: start a bot for settings (several may run one after the other: 'restarts'); all closed at the end."""
    started: list[BotHarness] = []

    async def start(settings, *, owner: str | None = None) -> BotHarness:
        bot = RatchetSlackApp(settings, ledger_owner=owner or uuid.uuid4().hex[:8])
        await bot.pipeline.warm_up()
        port = free_port()
        runner = await bot.serve_http("127.0.0.1", port)
        harness = BotHarness(bot, f"http://127.0.0.1:{port}/slack/events", runner)
        started.append(harness)
        return harness

    yield start
    for harness in started:
        await harness.close()
