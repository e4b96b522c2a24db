"""R1 — redeliveries over two replicas: every event answered exactly once.

``events`` app_mention events; each is delivered once and then redelivered 1–3 times with
``X-Slack-Retry-Num`` (as Slack does when an ack is late), every delivery to one of TWO bots chosen at
random, all deliveries of one event racing each other. The two bots are separate ``RatchetSlackApp``
instances (two ledger owners) sharing one database, as replicas do in Kubernetes. Counted from what the
Slack stand-in received: ``answered`` (exactly one final answer), ``lost`` (none), ``duplicated`` (more than
one bot message in the thread).
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.faults.harness import FaultBot, app_mention, event_callback, fake_slack, fault_corpus, fault_settings, \
    tally, wait_until
from engine.settings import Settings

CHANNEL = "C0FAULTS"
QUESTIONS = ["How do I get VPN access?", "How many days of paid leave do I have?",
             "When do unused leave days expire?", "Which VPN client do we use?"]


async def run_redelivery(base: Settings, *, events: int, database_url: str | None, concurrency: int = 8,
                         answer_tokens: int = 8, timeout_s: float = 600.0, seed: int = 1) -> dict[str, Any]:
    """Run R1; returns its JSON line. ``database_url`` None = SQLite in a temporary directory."""
    rng = random.Random(seed)
    with fault_corpus(base) as collection, tempfile.TemporaryDirectory(prefix="ratchet-faults-r1-") as tmp:
        async with fake_slack() as slack:
            settings = fault_settings(base, collection=collection, slack=slack, database_url=database_url,
                                      data_dir=Path(tmp), guardrails={"enabled": False},
                                      bot={"answer_max_tokens": answer_tokens})
            bots = [FaultBot(settings, owner=f"replica-{i}-{rng.randrange(1 << 30):x}") for i in range(2)]
            try:
                for bot in bots:
                    await bot.start()
                return await _traffic(bots, slack, rng, events=events, concurrency=concurrency,
                                      timeout_s=timeout_s, database=settings.db_url.split(":", 1)[0].split("+")[0])
            finally:
                for bot in bots:
                    await bot.close()


async def _traffic(bots: list[FaultBot], slack, rng: random.Random, *, events: int, concurrency: int,
                   timeout_s: float, database: str) -> dict[str, Any]:
    gate = asyncio.Semaphore(concurrency)
    bodies = [event_callback(app_mention(f"{QUESTIONS[i % len(QUESTIONS)]} (#{i})", channel=CHANNEL,
                                         ts=f"{1_700_000_000 + i}.{rng.randrange(10**6):06d}"))
              for i in range(events)]
    statuses: dict[int, int] = {}
    deliveries = 0

    async def deliver(body: dict, retry_num: int) -> None:
        await asyncio.sleep(rng.uniform(0, 0.2))
        async with gate:
            resp = await rng.choice(bots).post_event(body, retry_num=retry_num)
        statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1

    async def event(body: dict) -> None:
        nonlocal deliveries
        attempts = [0] + list(range(1, rng.randint(1, 3) + 1))
        deliveries += len(attempts)
        await asyncio.gather(*(deliver(body, n) for n in attempts))

    start = time.monotonic()
    await asyncio.gather(*(event(b) for b in bodies))
    threads = [b["event"]["ts"] for b in bodies]
    await wait_until(lambda: all(tally(slack, CHANNEL, t).finals for t in threads), timeout_s)
    for bot in bots:
        await bot.bot.drain()
    counts = [tally(slack, CHANNEL, t) for t in threads]
    return {"scenario": "R1", "sent": events, "answered": sum(1 for c in counts if c.finals == 1 and c.posted == 1),
            "lost": sum(1 for c in counts if c.finals == 0),
            "duplicated": sum(1 for c in counts if c.posted > 1 or c.finals > 1), "leaked": 0,
            "recover_s": None, "deliveries": deliveries, "http_status": statuses, "replicas": len(bots),
            "database": database, "wall_s": round(time.monotonic() - start, 1)}
