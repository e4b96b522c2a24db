"""`ratchet bench pipeline`: the whole Slack path against raw vLLM generation of the same prompts, like for like.

Runs the real bolt app (HTTP mode, signed events) against the local Slack stand-in, with the real pipeline
(guardrails, Weaviate retrieval, the routed model, the default service timeouts), on two corpora: short
generated documents (``synthetic``) and the real Python documentation of ``ratchet bench answers``
(``python-doc``: long HTML chunks, so prompts of about a thousand tokens). Raw vLLM gets exactly the prompt the
pipeline sent (read back from the feedback store), on the same model (base or the promoted adapter), with the
same sampling (temperature, repetition penalty) and the same number of completion tokens (``min_tokens`` =
``max_tokens`` on both sides). A unique tag after the system instructions keeps vLLM's prefix cache (warm from
the pipeline's own run) from making raw look faster than a fresh question. vLLM's ``engine.max_model_len`` must
hold a long prompt plus ``max_tokens`` (the real chunks make prompts of up to ~1,900 tokens: 4096 for 256 tokens).

JSON lines, per corpus and answer length, each ratio with the figures it divides:

* ``e2e_over_raw`` — Slack event → final message over raw vLLM streaming of the same prompt (goal ≤ 1.15);
* ``first_token_overhead_ms`` — the first visible answer text in Slack − raw vLLM's first token (goal ≤ 300),
  with ``first_visible_ms_p50`` (what a Slack user waits for words) and ``thinking_ms_p50`` (the placeholder);
* ``throughput_ratio_<C>`` — answers/s with ``--questions`` questions at concurrency C over raw vLLM answers/s on
  the same prompts at the same concurrency (goal ≥ 0.9), with p50/p95 of both, ``dropped`` (no final message)
  and ``service_errors`` (a final "not answering" message: 0 expected from a healthy model);
* ``lora_path_ratio`` (``--adapter``) — raw answers/s on the adapter over raw answers/s on the plain base model,
  same prompts: what the LoRA path itself costs.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from bot.cli.common import print_json, run, settings
from bot.testing.fake_slack import BOT_USER, FakeSlack
from engine.llm_client import LLMClient
from engine.process import free_port
from engine.settings import Settings

TOPICS = ["VPN access", "paid leave", "expense reports", "laptop replacement", "on-call rotation",
          "office badges", "travel booking", "password resets"]
CORPORA = ("synthetic", "python-doc")
DOCS_COLLECTION = "BenchPipelineDocs"  # kept between runs: unchanged pages are not embedded again
CHANNEL = "C0BENCH"


def _synthetic_docs(root: Path) -> None:
    for i, topic in enumerate(TOPICS):
        (root / f"doc{i}.md").write_text(
            f"# {topic.title()}\n\n## How it works\n\nFor {topic}, open a ticket in the portal under "
            f"'{topic}'. The request is handled within {i + 1} business days by team {i}.\n")


@dataclass
class Corpus:
    name: str
    collection: str
    questions: list[str]


async def _ingest(s: Settings, name: str, work: Path, need: int) -> Corpus:
    """Ingest one corpus into its collection; its questions (at least ``need`` if the corpus has them)."""
    from engine.rag import ingest_paths

    if name == "synthetic":
        root = work / "synthetic"
        root.mkdir()
        _synthetic_docs(root)
        collection = f"BenchPipeline{uuid.uuid4().hex[:6]}"
        paths = [str(root)]
        questions = [f"How do I handle {TOPICS[i % len(TOPICS)]}? (case {i})" for i in range(need)]
    else:
        from bot.bench_answers import ANSWERS_DIR, corpus_pages, docs_dir
        from feedback.answer_quality import load_questions

        rows = [q for q in load_questions(ANSWERS_DIR / "questions.jsonl") if q.kind != "unanswerable"][:need]
        cited = {q.source for q in rows if q.source}
        paths = [str(p) for p in corpus_pages(docs_dir()) if any(str(p).endswith("/" + c) for c in cited)]
        collection, questions = DOCS_COLLECTION, [q.question for q in rows]
    s = s.model_copy(deep=True)
    s.rag.collection = collection
    await asyncio.to_thread(ingest_paths, s, paths, collection=collection, show_progress=False)
    return Corpus(name, collection, questions)


@dataclass
class Asked:
    """One question's fate in Slack (times in ms from posting the event)."""

    reply_ts: str
    e2e_ms: float
    thinking_ms: float
    first_visible_ms: float
    service_error: bool


class _Bench:
    """The bot under test, its Slack stand-in, and timing of signed events.

    One watcher reads the stand-in's new calls every few ms (the bench shares the CPU with the bot: it must
    not poll per question).
    """

    def __init__(self, s: Settings, slack: FakeSlack) -> None:
        from bot.slack.app import RatchetSlackApp

        self.settings = s
        self.slack = slack
        self.bot = RatchetSlackApp(s)
        self.http: Any = None
        self.url = ""
        self._seen = 0
        self._replies: dict[str, asyncio.Future[tuple[str, float]]] = {}  # question ts -> (reply ts, at)
        self._finals: dict[str, asyncio.Future[tuple[float, str]]] = {}  # reply ts -> (at, text)
        self._first_update: dict[str, float] = {}
        self._watcher: asyncio.Task | None = None

    async def start(self) -> None:
        import httpx

        await self.bot.pipeline.warm_up()
        port = free_port()
        self.runner = await self.bot.serve_http("127.0.0.1", port)
        self.url = f"http://127.0.0.1:{port}/slack/events"
        self.http = httpx.AsyncClient(timeout=60)
        self._watcher = asyncio.create_task(self._watch())

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        await self.http.aclose()
        await self.runner.cleanup()
        await self.bot.aclose()

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            calls = self.slack.calls
            for call in calls[self._seen:]:
                if call.method == "chat.postMessage" and call.params.get("thread_ts") in self._replies:
                    reply = next(m["ts"] for m in reversed(self.slack.messages[CHANNEL])
                                 if m.get("thread_ts") == call.params["thread_ts"] and m.get("user") == BOT_USER)
                    self._finals.setdefault(reply, loop.create_future())
                    _resolve(self._replies[call.params["thread_ts"]], (reply, call.at))
                elif call.method == "chat.update":
                    reply = call.params.get("ts", "")
                    self._first_update.setdefault(reply, call.at)
                    if call.params.get("blocks"):
                        _resolve(self._finals.setdefault(reply, loop.create_future()),
                                 (call.at, call.params.get("text", "")))
            self._seen = len(calls)
            await asyncio.sleep(0.005)

    async def ask(self, text: str, timeout_s: float) -> Asked | None:
        """Post one signed app_mention; None when no final message came within ``timeout_s`` (dropped)."""
        from slack_sdk.signature import SignatureVerifier

        ts = f"{time.time():.6f}"
        self._replies[ts] = asyncio.get_running_loop().create_future()
        body = json.dumps({"type": "event_callback", "team_id": "T0001", "api_app_id": "A0BENCH",
                           "event_id": f"Ev{uuid.uuid4().hex[:12]}", "event_time": int(time.time()),
                           "event": {"type": "app_mention", "user": "U0BENCH", "text": f"<@{BOT_USER}> {text}",
                                     "ts": ts, "channel": CHANNEL, "event_ts": ts}})
        stamp = str(int(time.time()))
        signature = SignatureVerifier(self.settings.bot.slack_signing_secret).generate_signature(
            timestamp=stamp, body=body)
        start = time.monotonic()
        await self.http.post(self.url, content=body, headers={
            "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature, "Content-Type": "application/json"})
        try:
            reply, thinking_at = await asyncio.wait_for(self._replies[ts], timeout_s)
            final_at, text = await asyncio.wait_for(self._finals[reply], max(0.1, start + timeout_s - time.monotonic()))
        except TimeoutError:
            return None
        finally:
            self._replies.pop(ts, None)
        return Asked(reply_ts=reply, e2e_ms=(final_at - start) * 1000, thinking_ms=(thinking_at - start) * 1000,
                     first_visible_ms=(self._first_update[reply] - start) * 1000,
                     service_error="not answering right now" in text)

    async def prompt_of(self, reply_ts: str) -> tuple[list[dict[str, str]], str]:
        """The exact messages and model the pipeline used for the answer in ``reply_ts`` ([] if none)."""
        store = self.bot.components.feedback
        deadline = time.monotonic() + 10.0  # the message is attached to its answer just after the final edit
        while (answer_id := store.find_answer(channel=CHANNEL, ts=reply_ts)) is None:
            if time.monotonic() > deadline:
                return [], ""
            await asyncio.sleep(0.05)
        row = store.get(answer_id)
        return row.prompt, row.adapter_version or self.settings.engine.served_model_name


def _resolve(future: asyncio.Future, value: Any) -> None:
    if not future.done():
        future.set_result(value)


@dataclass
class Raw:
    total_ms: float
    ttft_ms: float
    completion_tokens: int


class _RawModel:
    """Raw vLLM streaming with the pipeline's sampling and answer length."""

    def __init__(self, llm: LLMClient, s: Settings) -> None:
        self.llm = llm
        self.s = s

    async def stream(self, prompt: list[dict[str, str]], model: str) -> Raw:
        first, *rest = prompt
        tag = f"(request {uuid.uuid4().hex[:8]})"  # after the fixed instructions, before the sources
        content = first["content"].replace("\n\nSources:", f" {tag}\n\nSources:", 1)
        prompt = [{**first, "content": content if content != first["content"] else f"{tag} {content}"}, *rest]
        tokens = self.s.bot.answer_max_tokens or self.s.engine.default_max_tokens
        start = time.perf_counter()
        raw = Raw(0.0, 0.0, 0)
        async for delta in self.llm.stream_chat(
                prompt, model=model, max_tokens=tokens, min_tokens=tokens, temperature=self.s.engine.temperature,
                repetition_penalty=self.s.engine.repetition_penalty):
            if delta.done:
                raw.ttft_ms = delta.generation.ttft_ms or 0.0
                raw.completion_tokens = delta.generation.completion_tokens or 0
        raw.total_ms = (time.perf_counter() - start) * 1000
        return raw


def _p(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))], 1)


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


async def _concurrently(n: int, concurrency: int, work: Callable[[int], Any]) -> tuple[list[Any], float]:
    """Run ``work(i)`` for i < n with at most ``concurrency`` at once; (results in order, wall seconds)."""
    results: list[Any] = [None] * n
    queue = list(range(n))[::-1]

    async def worker() -> None:
        while queue:
            i = queue.pop()
            results[i] = await work(i)

    start = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results, time.monotonic() - start


async def _sequential(runner: _Bench, raw: _RawModel, corpus: Corpus, n: int, timeout_s: float,
                      base: dict[str, Any]) -> None:
    e2e, raw_ms, overhead, first_visible, thinking, tokens = [], [], [], [], [], []
    dropped = errors = 0
    for question in corpus.questions[:n]:
        got = await runner.ask(question, timeout_s)
        if got is None or got.service_error:
            dropped += got is None
            errors += got is not None
            continue
        prompt, model = await runner.prompt_of(got.reply_ts)
        if not prompt:  # refused or no evidence: nothing was generated to compare with
            continue
        r = await raw.stream(prompt, model)
        e2e.append(got.e2e_ms)
        raw_ms.append(r.total_ms)
        overhead.append(got.first_visible_ms - r.ttft_ms)
        first_visible.append(got.first_visible_ms)
        thinking.append(got.thinking_ms)
        tokens.append(r.completion_tokens)
    e2e_p50, raw_p50 = _p(e2e, 0.5), _p(raw_ms, 0.5)
    print_json({**base, "metric": "e2e_over_raw", "value": _ratio(e2e_p50, raw_p50), "e2e_ms_p50": e2e_p50,
                "raw_ms_p50": raw_p50, "samples": len(e2e), "dropped": dropped, "service_errors": errors,
                "raw_completion_tokens": sorted(set(tokens)), "goal": "<=1.15"})
    print_json({**base, "metric": "first_token_overhead_ms", "value": _p(overhead, 0.5),
                "first_visible_ms_p50": _p(first_visible, 0.5), "thinking_ms_p50": _p(thinking, 0.5),
                "raw_ttft_ms_p50": _p([f - o for f, o in zip(first_visible, overhead)], 0.5), "goal": "<=300"})


async def _load(runner: _Bench, raw: _RawModel, corpus: Corpus, n: int, concurrency: int, timeout_s: float,
                base: dict[str, Any], plain_base: str | None) -> None:
    questions = [f"{corpus.questions[i % len(corpus.questions)]} (load {concurrency}-{i})" for i in range(n)]
    asked, wall = await _concurrently(n, concurrency, lambda i: runner.ask(questions[i], timeout_s))
    finished = [a for a in asked if a is not None]
    answered = [a for a in finished if not a.service_error]
    prompts = [p for p in [await runner.prompt_of(a.reply_ts) for a in answered] if p[0]]
    raws, raw_wall = await _concurrently(len(prompts), concurrency, lambda i: raw.stream(*prompts[i]))
    bot_rate, raw_rate = len(answered) / wall, (len(prompts) / raw_wall if prompts else 0.0)
    e2e, raw_ms = [a.e2e_ms for a in answered], [r.total_ms for r in raws]
    print_json({**base, "metric": f"throughput_ratio_{concurrency}", "value": _ratio(bot_rate, raw_rate),
                "answers_per_s": round(bot_rate, 3), "raw_answers_per_s": round(raw_rate, 3),
                "e2e_ms_p50": _p(e2e, 0.5), "e2e_ms_p95": _p(e2e, 0.95),
                "raw_ms_p50": _p(raw_ms, 0.5), "raw_ms_p95": _p(raw_ms, 0.95),
                "first_visible_ms_p95": _p([a.first_visible_ms for a in answered], 0.95),
                "questions": n, "dropped": n - len(finished), "service_errors": len(finished) - len(answered),
                "goal": ">=0.9, 0 dropped"})
    if plain_base is None or not prompts:
        return
    base_prompts = [(p, plain_base) for p, _ in prompts]
    _, base_wall = await _concurrently(len(base_prompts), concurrency, lambda i: raw.stream(*base_prompts[i]))
    print_json({**base, "metric": "lora_path_ratio", "concurrency": concurrency,
                "value": _ratio(len(prompts) / raw_wall, len(prompts) / base_wall),
                "adapter_answers_per_s": round(len(prompts) / raw_wall, 3),
                "base_answers_per_s": round(len(prompts) / base_wall, 3), "goal": ">=0.85"})


async def _promote_random_adapter(s: Settings, llm: LLMClient, work: Path) -> str:
    """A random LoRA adapter registered and promoted (forced: it has no gate report); its served name."""
    from engine.adapter_factory import make_random_adapter
    from engine.registry import AdapterRegistry

    path = make_random_adapter(s.model_dir, work / "adapter", rank=8, seed=7, scale=0.02)
    registry = AdapterRegistry(s)
    version = registry.register(path)
    await registry.promote(version.id, llm, actor="bench")
    return version.id


async def bench(base_settings: Settings, *, corpora: list[str], tokens: list[int], sequential: int, questions: int,
                concurrency: list[int], adapter: bool, timeout_s: float) -> None:
    """Measure and print the JSON lines."""
    from bot.bench_answers import bench_settings

    with tempfile.TemporaryDirectory(prefix="ratchet-bench-pipeline-") as tmp:
        work = Path(tmp)
        s = bench_settings(base_settings, work / "data")  # a private feedback store and adapter registry
        s.ensure_dirs()
        llm = LLMClient.from_settings(s.engine)
        try:
            model = await _promote_random_adapter(s, llm, work) if adapter else s.engine.served_model_name
            for name in corpora:
                corpus = await _ingest(s, name, work, need=max(sequential, questions))
                await _bench_corpus(s, llm, corpus, tokens=tokens, sequential=sequential, questions=questions,
                                    concurrency=concurrency, model=model, timeout_s=timeout_s)
        finally:
            await llm.aclose()


async def _bench_corpus(s: Settings, llm: LLMClient, corpus: Corpus, *, tokens: list[int], sequential: int,
                        questions: int, concurrency: list[int], model: str, timeout_s: float) -> None:
    s = s.model_copy(deep=True)
    s.rag.collection, s.rag.cache_enabled, s.rag.min_score = corpus.collection, False, 0.0
    s.bot.slack_signing_secret, s.bot.slack_bot_token = secrets.token_hex(16), "xoxb-bench"
    slack = await FakeSlack().start()
    s.bot.slack_api_url = slack.api_url
    runner = _Bench(s, slack)
    await runner.start()
    raw = _RawModel(llm, s)
    plain_base = s.engine.served_model_name if model != s.engine.served_model_name else None
    try:
        for length in tokens:
            s.bot.answer_max_tokens = s.bot.answer_min_tokens = length  # the pipeline reads them per question
            base = {"bench": "pipeline", "corpus": corpus.name, "max_tokens": length, "model": model,
                    "guardrails": s.guardrails.enabled}
            await _sequential(runner, raw, corpus, sequential, timeout_s, base)
            for c in concurrency:
                await _load(runner, raw, corpus, questions, c, timeout_s, base, plain_base)
    finally:
        await runner.close()
        await slack.stop()


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def bench_pipeline(
    corpus: str = typer.Option("synthetic,python-doc", help="corpora: synthetic (short generated documents), "
                               "python-doc (the real Python documentation of `bench answers`: long chunks)"),
    tokens: str = typer.Option("32,256", help="answer lengths (completion tokens, equal for raw and the bot)"),
    sequential: int = typer.Option(5, help="one-at-a-time questions for e2e and first-visible-text figures"),
    questions: int = typer.Option(64, help="questions per sustained-load run"),
    concurrency: str = typer.Option("8,32", help="concurrency of the sustained-load runs"),
    adapter: bool = typer.Option(False, help="route through a promoted (random) LoRA adapter instead of base, "
                                 "and report the LoRA path's own cost"),
    timeout_s: float = typer.Option(240.0, help="a question without a final message by then is dropped"),
) -> None:
    """Slack event → final message vs raw vLLM, like for like: e2e ratio, first visible text, throughput, drops."""
    names = [c.strip() for c in corpus.split(",") if c.strip()]
    unknown = sorted(set(names) - set(CORPORA))
    if unknown:
        raise typer.BadParameter(f"unknown corpus {unknown[0]!r}; choose from {', '.join(CORPORA)}")
    run(bench(settings(), corpora=names, tokens=_ints(tokens), sequential=sequential, questions=questions,
              concurrency=_ints(concurrency), adapter=adapter, timeout_s=timeout_s))
