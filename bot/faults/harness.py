"""What every fault scenario needs: bots served over HTTP, signed Slack requests, a tiny corpus, and counting.

The bots are the real :class:`bot.slack.app.RatchetSlackApp` (real pipeline, vLLM and Weaviate from the
settings); the only stand-in is the Slack Web API (:class:`bot.testing.fake_slack.FakeSlack`). Traffic stays
on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import secrets
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bot.testing.fake_slack import BOT_USER, TEAM, FakeSlack
from engine.process import free_port
from engine.settings import Settings

APP_ID = "A0FAULTS"
PUBLIC_DOCS = {
    "vpn.md": "# VPN access\n\n## Requesting access\n\nTo get VPN access, open a ticket in the IT portal under "
              "'Network > VPN'. Access is granted within one business day. The VPN client is Tunnelblick.\n",
    "holidays.md": "# Holidays\n\n## Paid leave\n\nEvery employee has 27 days of paid leave per year. "
                   "Unused days expire on March 31 of the following year.\n",
}
SECRET_GROUP = "hr"
SECRET_MARK = "secret-band-zebra"  # appears only in the HR document: seeing it (or its file name) is a leak
SECRET_DOC = ("salaries.md", f"# Salaries\n\n## Bands\n\nThe engineering salary band E5 is {SECRET_MARK}.\n")


def leaks_secret(text: str) -> bool:
    """Whether a Slack message (text or blocks as JSON) shows the HR-only document."""
    return SECRET_MARK in text or SECRET_DOC[0] in text


# --- settings and corpus ----------------------------------------------------------------------------------
def fault_settings(base: Settings, *, collection: str, slack: FakeSlack, database_url: str | None,
                   data_dir: Path, **sections: dict[str, Any]) -> Settings:
    """``base`` pointed at the corpus, the Slack stand-in, a database and a fresh data dir; ``sections``
    override fields per section (e.g. ``guardrails={"enabled": False}``)."""
    dump = base.model_dump(mode="json", exclude={"database_url", "data_dir", "log_file"})
    dump["engine"] = {**dump["engine"], "model_dir": str(base.model_dir)}
    dump["rag"] = {**dump["rag"], "collection": collection, "cache_enabled": False, "min_score": 0.0}
    dump["bot"] = {**dump["bot"], "slack_api_url": slack.api_url, "slack_bot_token": "xoxb-faults",
                   "slack_signing_secret": secrets.token_hex(16), "mode": "http", "answer_max_tokens": 16,
                   "stream_edit_interval_s": 0.5, "service_timeout_s": 60.0}
    for section, values in sections.items():
        dump[section] = {**dump.get(section, {}), **values}
    return Settings(**dump, data_dir=str(data_dir), database_url=database_url)


@contextlib.contextmanager
def fault_corpus(base: Settings, *, extra: dict[str, str] | None = None) -> Iterator[str]:
    """A fresh Weaviate collection: the public documents (+ ``extra``) and one HR-only document; dropped after."""
    from engine.rag import WeaviateStore, ingest_paths

    collection = f"Faults{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="ratchet-faults-corpus-") as tmp:
        public, hr = Path(tmp, "public"), Path(tmp, "hr")
        public.mkdir()
        hr.mkdir()
        for name, text in {**PUBLIC_DOCS, **(extra or {})}.items():
            (public / name).write_text(text)
        (hr / SECRET_DOC[0]).write_text(SECRET_DOC[1])
        ingest_paths(base, [public], collection=collection, show_progress=False)
        ingest_paths(base, [hr], collection=collection, acl=[SECRET_GROUP], show_progress=False)
    try:
        yield collection
    finally:
        store = WeaviateStore(base.rag)
        try:
            store.drop(collection)
        finally:
            store.close()


# --- Slack payloads ---------------------------------------------------------------------------------------
def new_ts() -> str:
    return f"{time.time():.6f}"


def event_callback(event: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    """The Events API envelope around ``event``."""
    return {"token": "unused", "team_id": TEAM, "api_app_id": APP_ID, "event": event, "type": "event_callback",
            "event_id": event_id or f"Ev{uuid.uuid4().hex[:12].upper()}", "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}]}


def app_mention(text: str, *, channel: str, user: str = "U0ALICE", ts: str | None = None,
                thread_ts: str | None = None) -> dict[str, Any]:
    ts = ts or new_ts()
    event = {"type": "app_mention", "user": user, "text": f"<@{BOT_USER}> {text}", "ts": ts, "channel": channel,
             "event_ts": ts}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def sign(secret: str, body: str, *, timestamp: int | None = None,
         content_type: str = "application/json") -> dict[str, str]:
    """The headers Slack sends with a v0 signature of ``body``."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}", "Content-Type": content_type}


# --- bots -------------------------------------------------------------------------------------------------
class FaultBot:
    """One RatchetSlackApp on a loopback port, with its own ledger owner, and a client that signs."""

    def __init__(self, settings: Settings, owner: str) -> None:
        from bot.slack.app import RatchetSlackApp

        self.settings = settings
        self.bot = RatchetSlackApp(settings, ledger_owner=owner)
        self.secret = settings.bot.slack_signing_secret or ""
        self.url = ""
        self.runner: Any = None
        self.http = httpx.AsyncClient(timeout=60)

    async def start(self) -> "FaultBot":
        await self.bot.pipeline.warm_up()
        port = free_port()
        self.runner = await self.bot.serve_http("127.0.0.1", port)
        self.url = f"http://127.0.0.1:{port}/slack/events"
        return self

    async def post(self, body: str, headers: dict[str, str]) -> httpx.Response:
        return await self.http.post(self.url, content=body, headers=headers)

    async def post_event(self, body: dict[str, Any], *, retry_num: int | None = None) -> httpx.Response:
        raw = json.dumps(body)
        headers = sign(self.secret, raw)
        if retry_num:
            headers |= {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        return await self.post(raw, headers)

    async def post_form(self, raw: str) -> httpx.Response:
        return await self.post(raw, sign(self.secret, raw, content_type="application/x-www-form-urlencoded"))

    async def close(self) -> None:
        await self.http.aclose()
        if self.runner is not None:
            await self.runner.cleanup()
        await self.bot.aclose()


@contextlib.asynccontextmanager
async def fake_slack() -> AsyncIterator[FakeSlack]:
    slack = await FakeSlack().start()
    try:
        yield slack
    finally:
        await slack.stop()


# --- counting what Slack saw --------------------------------------------------------------------------------
@dataclass
class ThreadTally:
    """Per question thread: the bot's messages there and which of them got a final answer."""

    posted: int = 0
    finals: int = 0
    texts: list[str] = field(default_factory=list)


def tally(slack: FakeSlack, channel: str, thread_ts: str) -> ThreadTally:
    """What the bot posted in one thread: messages, final answers (chat.update with blocks) and their text."""
    ours = [m["ts"] for m in slack.messages.get(channel, [])
            if m.get("user") == BOT_USER and m.get("thread_ts") == thread_ts]
    finals = [c for c in slack.final_updates() if c.params.get("channel") == channel and c.params.get("ts") in ours]
    answered_ts = {c.params["ts"] for c in finals}
    plain = [m["text"] for m in slack.messages.get(channel, [])
             if m.get("user") == BOT_USER and m.get("thread_ts") == thread_ts and m["ts"] not in answered_ts]
    texts = [json.dumps(c.params.get("blocks")) + " " + str(c.params.get("text", "")) for c in finals]
    return ThreadTally(posted=len(ours), finals=len(answered_ts), texts=texts + plain)


async def wait_until(predicate, timeout_s: float, poll_s: float = 0.2) -> bool:
    """Poll ``predicate`` until true or ``timeout_s``; returns its last value."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(poll_s)
    return True
