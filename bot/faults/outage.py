"""R2 — vLLM, Weaviate and the database killed (SIGKILL) mid-traffic, one after the other.

The services are Ratchet's own local ones, run by ``ratchet up --supervise`` in its own process (own data
dir and ports), so the supervisor restarts vLLM and Weaviate; the guardrails' model is the same vLLM here
(NeMo's self-checks call it), so killing vLLM kills the guardrails' model too. PostgreSQL is a server this
scenario starts; ``ratchet up`` does not run a database, so after its kill the scenario starts it again on
the same data, as Kubernetes or systemd would. One bot (the real Slack app over HTTP) runs throughout and is
never restarted.

Per service: a question is answered normally; ``open_questions`` questions are sent, the service is killed
while they are in flight, ``open_questions`` more are sent; each must get one clear final message (an answer,
or the message naming the service that is down) within 5 s (``bot.service_timeout_s`` is 4.5 s) of the kill or
of being acknowledged — ``late`` counts those that took longer, ``slowest_s`` the longest. Then a question every 2 s
until one is answered normally again: ``recover_s`` (per service in ``services``; the line's own is the
longest). Events Slack could not deliver (no HTTP 200 while the database is down) are delivered again, as
Slack does; ``lost`` counts acknowledged questions without a final message, ``duplicated`` threads with more
than one bot message.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bot.faults.crash import Sender
from bot.faults.harness import FaultBot, app_mention, event_callback, fake_slack, fault_corpus, fault_settings, \
    tally, wait_until
from bot.testing.postgres_server import PostgresServer, postgres_bin_dir
from engine.process import free_port, http_ok
from engine.settings import Settings

CHANNEL = "C0OUTAGE"
QUESTION = "How do I get VPN access?"
DOWN_MARK = "not answering right now"


class _Services:
    """``ratchet up --supervise`` in its own process, with its own data dir and ports."""

    def __init__(self, base: Settings, where: Path, database_url: str) -> None:
        dump = base.model_dump(mode="json", exclude={"database_url", "data_dir", "log_file"})
        dump["engine"] = {**dump["engine"], "model_dir": str(base.model_dir), "vllm_url": None, "port": free_port(),
                          "supervise_interval_s": 1.0}
        dump["rag"] = {**dump["rag"], "weaviate_url": None, "weaviate_host": "127.0.0.1",
                       "weaviate_http_port": free_port(), "weaviate_grpc_port": free_port()}
        self.settings = Settings(**dump, data_dir=str(where), database_url=database_url)
        self.config = where.parent / "services.yaml"
        self.config.write_text(yaml.safe_dump(self.settings.model_dump(mode="json")))
        self.log = where.parent / "supervise.log"
        self.proc: subprocess.Popen | None = None

    @property
    def vllm_url(self) -> str:
        return self.settings.engine.base_url

    @property
    def weaviate_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.rag.weaviate_http_port}"

    def healthy(self) -> bool:
        return http_ok(f"{self.vllm_url}/health") and http_ok(f"{self.weaviate_url}/v1/.well-known/ready")

    async def start(self, timeout_s: float = 900.0) -> None:
        env = {**os.environ, "RATCHET_CONFIG": str(self.config), "HF_HUB_OFFLINE": "1"}
        with self.log.open("a") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "up", "--supervise"], env=env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        if not await wait_until(lambda: self.proc.poll() is None and self.healthy(), timeout_s, poll_s=1.0):
            raise RuntimeError(f"`ratchet up --supervise` did not bring the services up: "
                               f"{self.log.read_text()[-2000:]}")

    def pid(self, service: str) -> int | None:
        from engine.rag.weaviate_server import weaviate_process
        from engine.vllm_server import vllm_process

        return (vllm_process if service == "vllm" else weaviate_process)(self.settings).pid()

    def stop(self) -> None:
        """Stop supervising (SIGINT), then `ratchet down` for the services it started."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        env = {**os.environ, "RATCHET_CONFIG": str(self.config), "HF_HUB_OFFLINE": "1"}
        subprocess.run([sys.executable, "-m", "bot.cli", "down"], env=env, capture_output=True, timeout=120)


async def run_outage(base: Settings, *, open_questions: int = 3, answer_tokens: int = 8,
                     recover_timeout_s: float = 600.0) -> dict[str, Any]:
    """Run R2; returns its JSON line."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise RuntimeError("R2 kills a PostgreSQL server it starts: install the 'postgresql' package")
    database = PostgresServer(bin_dir)
    database.start()
    with tempfile.TemporaryDirectory(prefix="ratchet-faults-r2-") as tmp:
        services = _Services(base, Path(tmp) / "services", database.url)
        try:
            await services.start()
            with fault_corpus(services.settings) as collection:
                async with fake_slack() as slack:
                    settings = fault_settings(
                        services.settings, collection=collection, slack=slack, database_url=database.url,
                        data_dir=Path(tmp) / "bot",
                        bot={"answer_max_tokens": answer_tokens, "service_timeout_s": base.bot.service_timeout_s},
                        engine={"vllm_url": services.vllm_url},
                        rag={"weaviate_url": services.weaviate_url})
                    bot = await FaultBot(settings, owner="r2").start()
                    sender = Sender(bot, bot.secret, concurrency=4)
                    try:
                        return await _phases(services, database, bot, sender, slack, open_questions=open_questions,
                                             recover_timeout_s=recover_timeout_s)
                    finally:
                        await sender.http.aclose()
                        await bot.close()
        finally:
            services.stop()
            database.stop()


async def _phases(services: _Services, database: PostgresServer, bot: FaultBot, sender: Sender, slack, *,
                  open_questions: int, recover_timeout_s: float) -> dict[str, Any]:
    start = time.monotonic()
    asked: list[str] = []
    per_service: dict[str, dict[str, Any]] = {}
    for service in ("vllm", "weaviate", "database"):
        warm, _ = await _ask(sender, slack, asked, recover_timeout_s)
        if not _answered_normally(slack, warm):
            raise RuntimeError(f"before killing {service}: a question was not answered normally")
        before = [asyncio.ensure_future(_ask(sender, slack, asked, 120)) for _ in range(open_questions)]
        await asyncio.sleep(0.3)  # in flight inside the bot
        killed = time.monotonic()
        if service == "database":
            database.kill()
        else:
            os.kill(services.pid(service) or 0, signal.SIGKILL)
        after = [asyncio.ensure_future(_ask(sender, slack, asked, 120)) for _ in range(open_questions)]
        if service == "database":
            await asyncio.sleep(3.0)
            await asyncio.to_thread(database.start)  # Kubernetes / systemd would restart it
        results = await asyncio.gather(*before, *after)
        threads = [thread for thread, _ in results]
        waits = [_wait(_first_final_at(slack, thread), acked, killed) for thread, acked in results]
        recovered = await _recover(sender, slack, asked, killed, recover_timeout_s)
        per_service[service] = {"open": len(threads), "late": sum(1 for w in waits if w is None or w > 5.0),
                                "slowest_s": round(max((w for w in waits if w is not None), default=0.0), 2),
                                "down_messages": sum(1 for t in threads if _says_down(slack, t)),
                                "recover_s": recovered}
    await bot.bot.drain()
    counts = [tally(slack, CHANNEL, t) for t in asked]
    recover = [s["recover_s"] for s in per_service.values()]
    return {"scenario": "R2", "sent": len(asked), "answered": sum(1 for c in counts if c.finals == 1 and c.posted == 1),
            "lost": sum(1 for c in counts if c.finals == 0),
            "duplicated": sum(1 for c in counts if c.posted > 1 or c.finals > 1), "leaked": 0,
            "recover_s": None if None in recover else max(recover),
            "late": sum(s["late"] for s in per_service.values()), "services": per_service,
            "guardrails_model": "the same vLLM (killed with it)", "bot_restarted": False,
            "wall_s": round(time.monotonic() - start, 1)}


async def _ask(sender: Sender, slack, asked: list[str], timeout_s: float) -> tuple[str, float | None]:
    """Send one question (again until acknowledged); wait for its final message; returns its thread ts and
    when it was acknowledged."""
    body = event_callback(app_mention(QUESTION, channel=CHANNEL))
    thread = body["event"]["ts"]
    asked.append(thread)
    acked = await sender.deliver(body, time.monotonic() + timeout_s)
    await wait_until(lambda: tally(slack, CHANNEL, thread).finals > 0, timeout_s, poll_s=0.05)
    return thread, acked


async def _recover(sender: Sender, slack, asked: list[str], killed: float, timeout_s: float) -> float | None:
    deadline = killed + timeout_s
    while time.monotonic() < deadline:
        thread, _ = await _ask(sender, slack, asked, max(1.0, deadline - time.monotonic()))
        if _answered_normally(slack, thread):
            return round(_first_final_at(slack, thread) - killed, 1)
        await asyncio.sleep(2.0)
    return None


def _first_final_at(slack, thread: str) -> float | None:
    ours = {m["ts"] for m in slack.messages.get(CHANNEL, []) if m.get("thread_ts") == thread and m.get("bot_id")}
    times = [c.at for c in slack.final_updates() if c.params.get("channel") == CHANNEL and c.params.get("ts") in ours]
    return min(times) if times else None


def _wait(final_at: float | None, acked: float | None, killed: float) -> float | None:
    """Seconds from the kill (or from the ack, if later) to the final message; None = none came."""
    return None if final_at is None or acked is None else final_at - max(killed, acked)


def _says_down(slack, thread: str) -> bool:
    return any(DOWN_MARK in text for text in tally(slack, CHANNEL, thread).texts)


def _answered_normally(slack, thread: str) -> bool:
    counted = tally(slack, CHANNEL, thread)
    return counted.finals == 1 and not any(DOWN_MARK in t or "went wrong" in t for t in counted.texts)
