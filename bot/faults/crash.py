"""R3 — ``kill -9`` of the bot process during reactions and questions: nothing acknowledged is lost, and the
questions it had in flight are answered after the restart, exactly once.

The bot is a real ``ratchet bot`` process in HTTP mode (its settings in a YAML file), Slack is the stand-in.
A few seed questions are answered first; then ``reactions`` 👍/👎 reactions (each from its own user, on a seed
answer) and ``questions`` new questions are sent, shuffled, ``concurrency`` at a time. After a random share of
them the bot is killed with SIGKILL and started again at once (as Kubernetes would). Like Slack, the sender
delivers again, with ``X-Slack-Retry-Num``, whatever got no HTTP 200. Counted at the end: a vote is lost when the
feedback store does not hold it; a question is lost without a final answer, duplicated with more than one bot
message (or final answer) in its thread. ``acked_before_kill`` = events acknowledged by the killed process,
``replayed`` = events the restarted bot took over from the ledger, ``recover_s`` = kill → first event acknowledged
by the new process.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from bot.faults.harness import app_mention, event_callback, fake_slack, fault_corpus, fault_settings, new_ts, sign, \
    tally, wait_until
from bot.testing.fake_slack import BOT_USER
from engine.process import free_port
from engine.settings import Settings

CHANNEL = "C0CRASH"
SEEDS = ["How do I get VPN access?", "How many days of paid leave do I have?", "Which VPN client do we use?"]


class BotProcess:
    """``ratchet bot`` (HTTP mode) in its own process, started, killed and started again."""

    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.config = workdir / "bot.yaml"
        self.config.write_text(yaml.safe_dump(settings.model_dump(mode="json")))
        self.log = workdir / "bot.log"
        self.port = settings.bot.http_port
        self.url = f"http://127.0.0.1:{self.port}/slack/events"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, "RATCHET_CONFIG": str(self.config), "HF_HUB_OFFLINE": "1"}
        with self.log.open("a") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "bot"], env=env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    async def wait_listening(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"the bot exited ({self.proc.returncode}): {self.log.read_text()[-2000:]}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"the bot did not listen within {timeout_s:g} s: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL, no goodbye (the process we started, by its pid)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def reaction(user: str, value: int, *, channel: str, message_ts: str) -> dict[str, Any]:
    return {"type": "reaction_added", "user": user, "reaction": "+1" if value > 0 else "-1", "item_user": BOT_USER,
            "item": {"type": "message", "channel": channel, "ts": message_ts}, "event_ts": new_ts()}


class Sender:
    """Delivers events like Slack: again (with X-Slack-Retry-Num) until one delivery gets HTTP 200."""

    def __init__(self, bot: Any, secret: str, concurrency: int) -> None:
        """``bot``: anything with the ``url`` of /slack/events (a :class:`BotProcess` or a FaultBot)."""
        self.bot = bot
        self.secret = secret
        self.gate = asyncio.Semaphore(concurrency)
        self.http = httpx.AsyncClient(timeout=10)
        self.acked_by: dict[str, int] = {}  # event id -> generation of the bot process that acknowledged it
        self.generation = 0
        self.first_ack_after_kill: float | None = None
        self.deliveries = 0

    async def deliver(self, body: dict[str, Any], deadline: float) -> float | None:
        """Returns when it was acknowledged (monotonic), None if never before ``deadline``."""
        raw = json.dumps(body)
        retry = 0
        while time.monotonic() < deadline:
            headers = sign(self.secret, raw)
            if retry:
                headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_error"}
            generation = self.generation
            async with self.gate:
                self.deliveries += 1
                try:
                    status = (await self.http.post(self.bot.url, content=raw, headers=headers)).status_code
                except httpx.HTTPError:
                    status = None
            if status == 200:
                self.acked_by[body["event_id"]] = generation
                if generation > 0 and self.first_ack_after_kill is None:
                    self.first_ack_after_kill = time.monotonic()
                return time.monotonic()
            retry += 1
            await asyncio.sleep(1.0)
        return None


async def run_crash(base: Settings, *, reactions: int, questions: int, database_url: str | None,
                    concurrency: int = 8, answer_tokens: int = 8, takeover_s: float = 5.0,
                    timeout_s: float = 900.0, seed: int = 3) -> dict[str, Any]:
    """Run R3; returns its JSON line."""
    rng = random.Random(seed)
    with fault_corpus(base) as collection, tempfile.TemporaryDirectory(prefix="ratchet-faults-r3-") as tmp:
        async with fake_slack() as slack:
            settings = fault_settings(base, collection=collection, slack=slack, database_url=database_url,
                                      data_dir=Path(tmp) / "data", guardrails={"enabled": False},
                                      bot={"answer_max_tokens": answer_tokens, "http_host": "127.0.0.1",
                                           "http_port": free_port(), "dedupe_takeover_s": takeover_s})
            bot = BotProcess(settings, Path(tmp))
            bot.start()
            try:
                await bot.wait_listening(300)
                sender = Sender(bot, settings.bot.slack_signing_secret or "", concurrency)
                try:
                    return await _traffic(bot, sender, slack, settings, rng, reactions=reactions,
                                          questions=questions, timeout_s=timeout_s)
                finally:
                    await sender.http.aclose()
            finally:
                bot.stop()


async def _seed_answers(sender: Sender, slack, deadline: float) -> list[str]:
    """Ask the seed questions; returns the ts of the bot's answer message in each thread."""
    bodies = [event_callback(app_mention(q, channel=CHANNEL)) for q in SEEDS]
    await asyncio.gather(*(sender.deliver(b, deadline) for b in bodies))
    threads = [b["event"]["ts"] for b in bodies]
    if not await wait_until(lambda: all(tally(slack, CHANNEL, t).finals for t in threads),
                            deadline - time.monotonic()):
        raise TimeoutError("the seed questions were not answered")
    return [next(m["ts"] for m in slack.messages[CHANNEL] if m.get("thread_ts") == t and m.get("user") == BOT_USER)
            for t in threads]


async def _traffic(bot: BotProcess, sender: Sender, slack, settings: Settings, rng: random.Random, *,
                   reactions: int, questions: int, timeout_s: float) -> dict[str, Any]:
    from feedback import FeedbackStore

    deadline = time.monotonic() + timeout_s
    answers = await _seed_answers(sender, slack, deadline)
    votes = {f"U{i:05d}": (rng.choice([1, -1]), answers[i % len(answers)]) for i in range(reactions)}
    bodies = [event_callback(reaction(user, value, channel=CHANNEL, message_ts=ts))
              for user, (value, ts) in votes.items()]
    asked = [event_callback(app_mention(f"{SEEDS[i % len(SEEDS)]} (#{i})", channel=CHANNEL,
                                        ts=f"{1_800_000_000 + i}.{rng.randrange(10**6):06d}"))
             for i in range(questions)]
    events = bodies + asked
    rng.shuffle(events)
    kill_after = int(len(events) * rng.uniform(0.3, 0.6))
    start = time.monotonic()
    tasks = []
    for n, body in enumerate(events):
        if n == kill_after:
            await asyncio.sleep(0.5)  # let the last few be in flight inside the bot
            killed_at = time.monotonic()
            acked_before_kill = len(sender.acked_by)
            bot.kill()
            sender.generation = 1
            bot.start()
        tasks.append(asyncio.ensure_future(sender.deliver(body, deadline)))
        await asyncio.sleep(0.005)  # a steady stream, not one burst: the kill lands mid-traffic
    await asyncio.gather(*tasks)
    threads = [b["event"]["ts"] for b in asked]
    store = FeedbackStore(settings)

    def votes_in() -> int:
        held = {aid: store.votes(aid) for aid in {store.find_answer(channel=CHANNEL, ts=ts) for ts in answers}}
        return sum(1 for user, (value, ts) in votes.items()
                   if held[store.find_answer(channel=CHANNEL, ts=ts)].get(store.user_key(user)) == value)

    await wait_until(lambda: all(tally(slack, CHANNEL, t).finals for t in threads), deadline - time.monotonic())
    recorded = 0
    while time.monotonic() < deadline:
        recorded = await asyncio.to_thread(votes_in)
        if recorded == len(votes):
            break
        await asyncio.sleep(1.0)
    counts = [tally(slack, CHANNEL, t) for t in threads]
    replayed = await asyncio.to_thread(_replayed, settings)
    return {"scenario": "R3", "sent": len(events), "answered": sum(1 for c in counts if c.finals == 1 and c.posted == 1)
            + recorded, "lost": sum(1 for c in counts if c.finals == 0) + len(votes) - recorded,
            "duplicated": sum(1 for c in counts if c.posted > 1 or c.finals > 1), "leaked": 0,
            "recover_s": round(sender.first_ack_after_kill - killed_at, 2) if sender.first_ack_after_kill else None,
            "reactions": len(votes), "votes_recorded": recorded, "questions": len(threads),
            "questions_answered": sum(1 for c in counts if c.finals == 1 and c.posted == 1),
            "acked_before_kill": acked_before_kill, "killed_after": kill_after, "replayed": replayed,
            "deliveries": sender.deliveries, "wall_s": round(time.monotonic() - start, 1)}


def _replayed(settings: Settings) -> int:
    from sqlalchemy import func, select

    from bot.slack.dedupe import ProcessedEvent
    from engine.db import session_factory

    with session_factory(settings.db_url)() as s:
        return s.scalar(select(func.count()).select_from(ProcessedEvent).where(ProcessedEvent.attempts > 1)) or 0
