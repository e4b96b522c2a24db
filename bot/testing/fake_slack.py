"""A local stand-in for the Slack Web API, for the scenario tests and `ratchet bench pipeline`.

Slack itself cannot run here, so this is the one test double Ratchet has; it lives in ``bot/`` because
the benchmark (a shipped command) drives the real bolt app against it too.

Records every call (method + parameters), answers the methods Ratchet uses with the shapes Slack
documents, keeps posted messages so conversations.replies returns real threads, and can answer the next
N calls of a method with HTTP 429 + Retry-After. ``/respond/<id>`` stands in for slash-command response URLs.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_USER = "UBOT"
BOT_ID = "BBOT"
TEAM = "T0001"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


class FakeSlack:
    """Start with ``await FakeSlack().start()``; ``api_url`` goes into ``bot.slack_api_url``."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.responses: list[dict[str, Any]] = []
        self.channels: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}  # channel -> messages
        self.rate_limits: dict[str, list[int]] = {}  # method -> retry-after values still to answer
        self.rate_limited: list[str] = []
        self.fail_conversations_info = False  # answer conversations.info with Slack's channel_not_found
        self._ts = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle -----------------------------------------------------------------------------------
    async def start(self) -> "FakeSlack":
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/respond/{rid}", self._respond)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, rid: str = "r1") -> str:
        return f"http://127.0.0.1:{self.port}/respond/{rid}"

    # --- test controls --------------------------------------------------------------------------------
    def rate_limit(self, method: str, *retry_after_s: int) -> None:
        """Answer the next calls of ``method`` with 429 and these Retry-After values."""
        self.rate_limits.setdefault(method, []).extend(retry_after_s)

    def add_channel(self, channel: str, *, private: bool = False, im: bool = False) -> None:
        self.channels[channel] = {"id": channel, "is_private": private, "is_im": im, "is_channel": not im}

    def add_message(self, channel: str, ts: str, text: str, *, user: str, thread_ts: str | None = None) -> None:
        """A human message already in a channel (so threads have a history)."""
        self.messages.setdefault(channel, []).append(
            {"type": "message", "user": user, "text": text, "ts": ts, "thread_ts": thread_ts or ts})

    def called(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def final_updates(self) -> list[Call]:
        """chat.update calls that carry blocks (the final answer message)."""
        return [c for c in self.called("chat.update") if c.params.get("blocks")]

    async def wait_for(self, predicate, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"fake Slack: condition not met in {timeout_s}s; calls: "
                                     f"{[c.method for c in self.calls]}")
            await asyncio.sleep(0.05)

    # --- handlers -------------------------------------------------------------------------------------
    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.method == "GET":
            params = dict(request.query)
        elif request.content_type == "application/json":
            params = await request.json()
        else:
            params = dict(await request.post())
        for key in ("blocks", "attachments"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        pending = self.rate_limits.get(method)
        if pending:
            self.rate_limited.append(method)
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": str(pending.pop(0))})
        self.calls.append(Call(method, params))
        if method == "conversations.info" and self.fail_conversations_info:
            return web.json_response({"ok": False, "error": "channel_not_found"})
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        body = handler(params) if handler else {}
        return web.json_response({"ok": True, **body})

    async def _respond(self, request: web.Request) -> web.Response:
        self.responses.append(await request.json())
        return web.Response(text="ok")

    def _auth_test(self, _p: dict) -> dict:
        return {"url": "https://example.slack.com/", "team": "Example", "user": "ratchet", "team_id": TEAM,
                "user_id": BOT_USER, "bot_id": BOT_ID, "is_enterprise_install": False}

    def _chat_postMessage(self, p: dict) -> dict:
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        message = {"type": "message", "user": BOT_USER, "bot_id": BOT_ID, "text": p.get("text", ""), "ts": ts,
                   "thread_ts": p.get("thread_ts") or ts}
        self.messages.setdefault(p["channel"], []).append(message)
        return {"channel": p["channel"], "ts": ts, "message": message}

    def _chat_update(self, p: dict) -> dict:
        for message in self.messages.get(p["channel"], []):
            if message["ts"] == p["ts"]:
                message["text"] = p.get("text", "")
        return {"channel": p["channel"], "ts": p["ts"], "text": p.get("text", "")}

    def _chat_postEphemeral(self, _p: dict) -> dict:
        return {"message_ts": f"{int(time.time())}.{next(self._ts):06d}"}

    def _conversations_info(self, p: dict) -> dict:
        return {"channel": self.channels.get(p["channel"], {"id": p["channel"], "is_private": False,
                                                            "is_im": False, "is_channel": True})}

    def _conversations_replies(self, p: dict) -> dict:
        thread = [m for m in self.messages.get(p["channel"], []) if m.get("thread_ts") == p["ts"]]
        return {"messages": sorted(thread, key=lambda m: float(m["ts"])), "has_more": False}

    def _usergroups_users_list(self, p: dict) -> dict:
        return {"users": self.usergroups.get(p["usergroup"], [])}
