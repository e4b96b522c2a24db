"""`ratchet bench pipeline`: the whole Slack path against raw vLLM generation of the same prompts.

Runs the real bolt app (HTTP mode, signed events) against the local Slack stand-in, with the real
pipeline (guardrails, Weaviate retrieval on a small generated corpus, the routed adapter), and prints
JSON lines:

* ``e2e_over_raw`` — Slack event → final message, over raw vLLM streaming of the same prompt (goal ≤ 1.15);
* ``first_token_overhead_ms`` — first visible Slack update − raw vLLM TTFT (goal ≤ 300);
* ``throughput_ratio_32`` — answers/s with N concurrent questions over raw vLLM answers/s (goal ≥ 0.9);
* ``dropped`` — questions without a final message (goal 0).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import typer
from rich.progress import Progress

from bot.cli.common import print_json, run, settings
from bot.testing.fake_slack import BOT_USER, FakeSlack
from engine.llm_client import LLMClient
from engine.process import free_port
from engine.settings import Settings

TOPICS = ["VPN access", "paid leave", "expense reports", "laptop replacement", "on-call rotation",
          "office badges", "travel booking", "password resets"]


def _corpus(root: Path) -> None:
    for i, topic in enumerate(TOPICS):
        (root / f"doc{i}.md").write_text(
            f"# {topic.title()}\n\n## How it works\n\nFor {topic}, open a ticket in the portal under "
            f"'{topic}'. The request is handled within {i + 1} business days by team {i}.\n")


def _questions(n: int) -> list[str]:
    return [f"How do I handle {TOPICS[i % len(TOPICS)]}? (case {i})" for i in range(n)]


class _Bench:
    """The bot under test, its Slack stand-in, and timing of signed events."""

    def __init__(self, s: Settings, slack: FakeSlack) -> None:
        from bot.slack.app import RatchetSlackApp

        self.settings = s
        self.slack = slack
        self.bot = RatchetSlackApp(s)
        self.http: Any = None
        self.url = ""

    async def start(self) -> None:
        import httpx

        await self.bot.pipeline.warm_up()
        port = free_port()
        self.runner = await self.bot.serve_http("127.0.0.1", port)
        self.url = f"http://127.0.0.1:{port}/slack/events"
        self.http = httpx.AsyncClient(timeout=60)

    async def close(self) -> None:
        await self.http.aclose()
        await self.runner.cleanup()
        await self.bot.aclose()

    async def ask(self, text: str, timeout_s: float) -> dict[str, float] | None:
        """Post one signed app_mention; returns {e2e_ms, first_update_ms, answer_ts} or None if dropped."""
        from slack_sdk.signature import SignatureVerifier

        ts = f"{time.time():.6f}"
        body = json.dumps({"type": "event_callback", "team_id": "T0001", "api_app_id": "A0BENCH",
                           "event_id": f"Ev{uuid.uuid4().hex[:12]}", "event_time": int(time.time()),
                           "event": {"type": "app_mention", "user": "U0BENCH", "text": f"<@{BOT_USER}> {text}",
                                     "ts": ts, "channel": "C0BENCH", "event_ts": ts}})
        stamp = str(int(time.time()))
        signature = SignatureVerifier(self.settings.bot.slack_signing_secret).generate_signature(
            timestamp=stamp, body=body)
        start = time.monotonic()
        await self.http.post(self.url, content=body, headers={
            "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature, "Content-Type": "application/json"})
        reply_ts = await self._reply_ts(ts, start + timeout_s)
        final = await self._final(reply_ts, start + timeout_s) if reply_ts else None
        if final is None:
            return None
        updates = [c.at for c in self.slack.called("chat.update") if c.params.get("ts") == reply_ts]
        return {"e2e_ms": (final - start) * 1000, "first_update_ms": (min(updates) - start) * 1000,
                "reply_ts": reply_ts, "error": await self._service_error(reply_ts)}

    async def _service_error(self, reply_ts: str) -> bool:
        """Whether the final message reports a failed service instead of an answer."""
        text = next(c.params.get("text", "") for c in self.slack.final_updates() if c.params.get("ts") == reply_ts)
        return "not answering right now" in text

    async def _reply_ts(self, thread_ts: str, deadline: float) -> str | None:
        while time.monotonic() < deadline:
            for call in self.slack.called("chat.postMessage"):
                if call.params.get("thread_ts") == thread_ts:
                    return next(m["ts"] for m in self.slack.messages["C0BENCH"]
                                if m.get("thread_ts") == thread_ts and m.get("user") == BOT_USER)
            await asyncio.sleep(0.01)
        return None

    async def _final(self, reply_ts: str, deadline: float) -> float | None:
        while time.monotonic() < deadline:
            for call in self.slack.final_updates():
                if call.params.get("ts") == reply_ts:
                    return call.at
            await asyncio.sleep(0.01)
        return None

    async def prompt_of(self, reply_ts: str) -> tuple[list[dict[str, str]], str]:
        """The exact messages and model the pipeline used for the answer in ``reply_ts`` ([] if none)."""
        store = self.bot.components.feedback
        deadline = time.monotonic() + 5.0  # the message is attached to its answer just after the final edit
        while (answer_id := store.find_answer(channel="C0BENCH", ts=reply_ts)) is None:
            if time.monotonic() > deadline:
                return [], ""
            await asyncio.sleep(0.05)
        row = store.get(answer_id)
        return row.prompt, row.adapter_version or self.settings.engine.served_model_name


async def _raw(llm: LLMClient, prompt: list[dict[str, str]], model: str, max_tokens: int) -> tuple[float, float]:
    """(total ms, TTFT ms) of streaming ``prompt`` straight from vLLM.

    The prompt gets a unique first token, so vLLM's prefix cache (warm from the pipeline's own run of the
    same prompt) does not make the raw figure look faster than a fresh question.
    """
    first, *rest = prompt
    prompt = [{**first, "content": f"{uuid.uuid4().hex[:8]} {first['content']}"}, *rest]
    start = time.perf_counter()
    ttft = 0.0
    async for delta in llm.stream_chat(prompt, model=model, max_tokens=max_tokens, temperature=0.0):
        if delta.done:
            ttft = delta.generation.ttft_ms or 0.0
    return (time.perf_counter() - start) * 1000, ttft


async def bench(s: Settings, *, sequential: int, concurrent: int, max_tokens: int, timeout_s: float) -> None:
    """Measure and print the JSON lines."""
    from engine.rag import ingest_paths

    with tempfile.TemporaryDirectory() as tmp:
        _corpus(Path(tmp))
        collection = f"BenchPipeline{uuid.uuid4().hex[:6]}"
        await asyncio.to_thread(ingest_paths, s, [tmp], collection=collection, show_progress=False)
    s = s.model_copy(deep=True)
    s.rag.collection, s.rag.cache_enabled, s.rag.min_score = collection, False, 0.0
    s.bot.slack_signing_secret, s.bot.slack_bot_token = secrets.token_hex(16), "xoxb-bench"
    s.bot.answer_max_tokens, s.bot.service_timeout_s = max_tokens, timeout_s / 2
    slack = await FakeSlack().start()
    s.bot.slack_api_url = slack.api_url
    runner = _Bench(s, slack)
    await runner.start()
    llm = LLMClient.from_settings(s.engine)
    try:
        await _measure(runner, llm, sequential=sequential, concurrent=concurrent, max_tokens=max_tokens,
                       timeout_s=timeout_s)
    finally:
        await llm.aclose()
        await runner.close()
        await slack.stop()


async def _measure(runner: _Bench, llm: LLMClient, *, sequential: int, concurrent: int, max_tokens: int,
                   timeout_s: float) -> None:
    e2e, raw, overhead = [], [], []
    with Progress(transient=True) as progress:
        task = progress.add_task("sequential questions", total=sequential)
        for question in _questions(sequential):
            got = await runner.ask(question, timeout_s)
            progress.advance(task)
            if got is None or got["error"]:
                continue
            prompt, model = await runner.prompt_of(got["reply_ts"])
            if not prompt:  # refused or no evidence: nothing was generated to compare with
                continue
            raw_ms, raw_ttft = await _raw(llm, prompt, model, max_tokens)
            e2e.append(got["e2e_ms"])
            raw.append(raw_ms)
            overhead.append(got["first_update_ms"] - raw_ttft)
    print_json({"bench": "pipeline", "metric": "e2e_over_raw",
                "value": round(statistics.median(e2e) / statistics.median(raw), 3) if e2e else None,
                "e2e_ms_p50": round(statistics.median(e2e), 1) if e2e else None,
                "raw_ms_p50": round(statistics.median(raw), 1) if raw else None, "samples": len(e2e), "goal": "<=1.15"})
    print_json({"bench": "pipeline", "metric": "first_token_overhead_ms",
                "value": round(statistics.median(overhead), 1) if overhead else None, "goal": "<=300"})

    questions = _questions(concurrent)
    start = time.monotonic()
    results = await asyncio.gather(*(runner.ask(q + " (load)", timeout_s) for q in questions))
    wall = time.monotonic() - start
    finished = [r for r in results if r is not None]
    answered = [r for r in finished if not r["error"]]
    prompts = [await runner.prompt_of(r["reply_ts"]) for r in answered]
    prompts = [p for p in prompts if p[0]]
    raw_start = time.monotonic()
    await asyncio.gather(*(_raw(llm, prompt, model, max_tokens) for prompt, model in prompts))
    raw_wall = time.monotonic() - raw_start
    bot_rate = len(answered) / wall
    raw_rate = len(prompts) / raw_wall if prompts else 0.0
    print_json({"bench": "pipeline", "metric": f"throughput_ratio_{concurrent}",
                "value": round(bot_rate / raw_rate, 3) if raw_rate else None,
                "answers_per_s": round(bot_rate, 3), "raw_answers_per_s": round(raw_rate, 3), "goal": ">=0.9"})
    print_json({"bench": "pipeline", "metric": "dropped", "value": len(questions) - len(finished), "goal": 0,
                "service_errors": len(finished) - len(answered)})


def bench_pipeline(
    sequential: int = typer.Option(5, help="one-at-a-time questions for e2e and first-token figures"),
    concurrent: int = typer.Option(32, help="questions sent at once for the throughput figure"),
    max_tokens: int = typer.Option(32, help="answer length"),
    timeout_s: float = typer.Option(240.0, help="a question without a final message by then is dropped "
                                             "(services get half of it before the bot reports them down)"),
) -> None:
    """Slack event → final message vs raw vLLM: e2e ratio, first-token overhead, throughput, drops."""
    run(bench(settings(), sequential=sequential, concurrent=concurrent, max_tokens=max_tokens, timeout_s=timeout_s))
