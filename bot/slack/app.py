"""The Slack app (slack-bolt AsyncApp): a short chain — verify → dedupe → route → answer / votes / admin.

* verify: bolt's request verification (signature + timestamp, 401 otherwise; skipped in Socket Mode, where
  the WebSocket is the authentication), and bolt's self-event filter;
* dedupe: the :class:`bot.slack.dedupe.DedupeEvents` middleware claims every event id in the ledger first;
* route: one listener per event type; unknown event types are acknowledged and ignored;
* answer / votes / admin: the work runs in background tasks after the ack (Slack wants it within 3 s).

The Web API client uses ``bot.slack_api_url`` and waits ``Retry-After`` on HTTP 429 before retrying.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable
from functools import partial
from typing import Any

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import SQLAlchemyError

from bot import messages
from bot.admin_actions import AdminActions
from bot.answers import Question
from bot.components import Components, call
from bot.slack.dedupe import PROCESS_ID, DedupeEvents, EventLedger
from bot.pipeline import Pipeline
from bot.slack.admin_commands import AdminGate, run_command
from bot.slack.responder import Responder, SlackReply
from bot.slack.blocks import REGENERATE, VOTE_DOWN, VOTE_UP
from bot.slack.context import ChannelDirectory, channel_settings, groups_for, mentions, strip_mentions, thread_history
from bot.slack.votes import VoteRecorder
from engine.logs import get_logger, request_context
from engine.metrics import QUEUE_DEPTH
from engine.settings import Settings

log = get_logger(__name__)
SLACK_RETRIES = 5
FINISH_RETRY_S = (1.0, 2.0, 4.0, 8.0, 16.0)  # a database outage of about half a minute is ridden out


def make_web_client(settings: Settings) -> AsyncWebClient:
    """The Web API client: configured base URL, waits Retry-After on 429, retries connection errors."""
    base_url = settings.bot.slack_api_url.rstrip("/") + "/"
    return AsyncWebClient(
        token=settings.bot.slack_bot_token, base_url=base_url,
        retry_handlers=[AsyncConnectionErrorRetryHandler(max_retry_count=2),
                        AsyncRateLimitErrorRetryHandler(max_retry_count=SLACK_RETRIES)],
    )


class RatchetSlackApp:
    """The bolt app with Ratchet's listeners, plus the background tasks it started."""

    def __init__(self, settings: Settings, components: Components | None = None, *,
                 ledger_owner: str = PROCESS_ID) -> None:
        self.settings = settings
        self.components = components or Components(settings)
        self.pipeline = Pipeline(settings, self.components)
        self.client = make_web_client(settings)
        self.ledger = EventLedger(settings.db_url, takeover_s=settings.bot.dedupe_takeover_s, owner=ledger_owner)
        self.responder = Responder(self.pipeline, self.client, self.components.feedback)
        self.directory = ChannelDirectory()
        self.votes = VoteRecorder(self.components.feedback)
        self.gate = AdminGate(settings.admin)
        self.admin = AdminActions(self.components.registry, self.components.llm)
        self.tasks: set[asyncio.Task] = set()
        self._recovery: asyncio.Future | None = None
        self.app = AsyncApp(client=self.client, signing_secret=settings.bot.slack_signing_secret or "",
                            process_before_response=False)
        self._register()

    # --- wiring -----------------------------------------------------------------------------------------
    def _register(self) -> None:
        app = self.app
        app.use(DedupeEvents(self.ledger))
        app.event("app_mention")(self._on_mention)
        app.event("message")(self._on_message)
        app.event("reaction_added")(self._on_reaction_added)
        app.event("reaction_removed")(self._on_reaction_removed)
        app.action(VOTE_UP)(self._on_vote_button)
        app.action(VOTE_DOWN)(self._on_vote_button)
        app.action(REGENERATE)(self._on_regenerate)
        app.command("/ratchet")(self._on_command)
        app.event(re.compile(".*"))(self._ignore)

    def spawn(self, work: Awaitable[Any], name: str) -> None:
        """Run ``work`` after the ack; errors are logged, never lost silently."""
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        QUEUE_DEPTH.inc()
        task.add_done_callback(lambda t: self._done(t, name))

    def _done(self, task: asyncio.Task, name: str) -> None:
        self.tasks.discard(task)
        QUEUE_DEPTH.dec()
        if not task.cancelled() and task.exception() is not None:
            log.error("slack.task_failed", task=name, error=repr(task.exception()))

    async def drain(self, timeout_s: float = 120.0) -> None:
        """Wait for every background task (tests, shutdown)."""
        while self.tasks:
            await asyncio.wait_for(asyncio.gather(*list(self.tasks), return_exceptions=True), timeout_s)

    async def aclose(self) -> None:
        """Finish background work and close clients."""
        if self._recovery is not None:
            self._recovery.cancel()
        await self.drain()
        await self.pipeline.aclose()

    # --- recovery ---------------------------------------------------------------------------------------
    async def recover_orphans(self) -> int:
        """Replay the events other (dead) bot processes acknowledged but never finished; returns how many."""
        orphans = await asyncio.to_thread(self.ledger.orphans)
        for event_id, body in orphans:
            reply_ts = await asyncio.to_thread(self.ledger.reply_ts, event_id)
            request = AsyncBoltRequest(body=json.dumps(body), mode="socket_mode",
                                       context={"ratchet_recovered": True, "ratchet_event_id": event_id,
                                                "ratchet_reply_ts": reply_ts})
            await self.app.async_dispatch(request)
        return len(orphans)

    async def _recovery_loop(self) -> None:
        interval = max(5.0, self.settings.bot.dedupe_takeover_s / 4)
        while True:
            try:
                await self.recover_orphans()
            except Exception as exc:  # noqa: BLE001 - the sweep retries; a database hiccup must not end it
                log.warning("slack.recovery_failed", error=repr(exc)[:200])
            await asyncio.sleep(interval)

    # --- after a listener ---------------------------------------------------------------------------------
    async def _finish(self, context: dict[str, Any]) -> None:
        """Mark the event done; while the database is down, try again (an event left in flight would be
        replayed by another replica: a second answer)."""
        event_id = context.get("ratchet_event_id")
        if not event_id:
            return
        for wait_s in (*FINISH_RETRY_S, None):
            try:
                await asyncio.to_thread(self.ledger.finish, event_id)
                return
            except SQLAlchemyError as exc:
                if wait_s is None:
                    raise
                log.warning("slack.finish_retry", event_id=event_id, error=repr(exc)[:160])
                await asyncio.sleep(wait_s)

    async def _note_reply(self, event_id: str, ts: str) -> None:
        """Best effort: with the database down the answer still goes out (a replay could then post anew)."""
        try:
            await asyncio.to_thread(self.ledger.note_reply, event_id, ts)
        except SQLAlchemyError as exc:
            log.warning("slack.reply_not_noted", event_id=event_id, error=repr(exc)[:160])

    # --- questions ---------------------------------------------------------------------------------------
    async def _on_mention(self, event: dict[str, Any], context: dict[str, Any]) -> None:
        self.spawn(self._answer_event(event, context), "answer")

    async def _on_message(self, event: dict[str, Any], context: dict[str, Any]) -> None:
        """DMs (and untagged messages where a channel allows them); never bots, edits, or mention twins."""
        if event.get("subtype") or event.get("bot_id") or event.get("user") in (None, context.get("bot_user_id")):
            return await self._finish(context)
        if mentions(event.get("text", ""), context.get("bot_user_id")):
            return await self._finish(context)  # the app_mention event answers it
        direct = event.get("channel_type") == "im"
        if direct or not channel_settings(self.settings.bot, event.get("channel")).respond_only_when_tagged:
            self.spawn(self._answer_event(event, context), "answer")
        else:
            await self._finish(context)

    async def _answer_event(self, event: dict[str, Any], context: dict[str, Any]) -> None:
        if not event.get("channel") or not event.get("ts"):
            log.warning("slack.event_without_channel", event_id=context.get("ratchet_event_id"))
            return await self._finish(context)  # nowhere to answer: done, never replayed
        with request_context(context.get("ratchet_event_id")):
            channel, user = event["channel"], event.get("user")
            thread_ts = event.get("thread_ts") or event["ts"]
            event_id = context.get("ratchet_event_id")
            reply = SlackReply(channel, thread_ts, ts=context.get("ratchet_reply_ts"),
                               on_posted=partial(self._note_reply, event_id) if event_id else None)
            text = strip_mentions(event.get("text", ""))
            if not text:
                await self.responder.post_text(reply, messages.HELP)
            else:
                question = await self._question(text, channel=channel, user=user, thread_ts=thread_ts,
                                                before_ts=event["ts"], bot_user_id=context.get("bot_user_id"),
                                                in_thread="thread_ts" in event)
                await self.responder.answer(question, reply)
            await self._finish(context)

    async def _question(self, text: str, *, channel: str, user: str | None, thread_ts: str, before_ts: str,
                        bot_user_id: str | None, in_thread: bool) -> Question:
        """A pipeline question with permissions, channel settings and thread history."""
        info = await self.directory.info(self.client, channel)
        settings = channel_settings(self.settings.bot, channel)
        history = []
        if in_thread:
            history = await thread_history(self.client, channel=channel, thread_ts=thread_ts, before_ts=before_ts,
                                           bot_user_id=bot_user_id, limit=self.settings.bot.history_max_messages)
        return Question(
            text=text, user=user, channel=channel, source="slack", thread_key=f"{channel}:{thread_ts}",
            thread_ts=thread_ts, history=history,
            groups=groups_for(self.settings.bot, channel=channel, user=user, kind=info.kind),
            collections=settings.collections, adapter_override=settings.adapter_alias,
        )

    # --- votes -------------------------------------------------------------------------------------------
    async def _on_reaction_added(self, event: dict[str, Any], context: dict[str, Any]) -> None:
        self.spawn(self._reaction(event, context, added=True), "vote")

    async def _on_reaction_removed(self, event: dict[str, Any], context: dict[str, Any]) -> None:
        self.spawn(self._reaction(event, context, added=False), "vote")

    async def _reaction(self, event: dict[str, Any], context: dict[str, Any], *, added: bool) -> None:
        answer_id = await self.votes.on_reaction(event, bot_user_id=context.get("bot_user_id"), added=added)
        log.info("slack.reaction", added=added, reaction=event.get("reaction"), answer_id=answer_id)
        await self._finish(context)

    async def _on_vote_button(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        """The vote is committed before the ack: a click Slack was told we have is never lost."""
        value = 1 if action["action_id"] == VOTE_UP else -1
        user = body["user"]["id"]
        recorded = await self.votes.on_button(action["value"], user, value)
        await ack()
        if not recorded:
            await self.client.chat_postEphemeral(channel=body["channel"]["id"], user=user,
                                                 text=messages.VOTE_NOT_FOUND)

    async def _on_regenerate(self, ack: Any, body: dict[str, Any], action: dict[str, Any], context: dict) -> None:
        """Answer the same question again in the thread, linked as an alternative (the user can compare)."""
        await ack()
        self.spawn(self._regenerate(action["value"], body["user"]["id"], context.get("bot_user_id")), "regenerate")

    async def _regenerate(self, answer_id: str, user: str, bot_user_id: str | None) -> None:
        original = await call(self.components.feedback.get, answer_id)
        question = await self._question(original.question, channel=original.channel, user=user,
                                        thread_ts=original.thread_ts, before_ts=original.ts,
                                        bot_user_id=bot_user_id, in_thread=False)
        question.history = list(original.history)  # exactly the context the first answer had
        question.alternative_of = answer_id
        info = await self.directory.info(self.client, original.channel)
        if info.is_im and self.components.feedback.user_key(user) != original.user:
            # a DM draws on its asker's groups; anyone else regenerating there gets the public documents only
            question.groups = groups_for(self.settings.bot, channel=original.channel, user=None, kind="public")
        await self.responder.answer(question, SlackReply(original.channel, original.thread_ts))

    # --- admin ---------------------------------------------------------------------------------------------
    async def _on_command(self, ack: Any, command: dict[str, Any], respond: Any) -> None:
        user, text = command["user_id"], (command.get("text") or "").strip()
        name = (text.split() or ["help"])[0]
        if not await self.gate.allows(self.client, user):
            await asyncio.to_thread(self.admin.deny, f"slack:{user}", f"/ratchet {name}")
            await ack(text=messages.NOT_ADMIN.format(command=name))
            return
        await ack(text=f"Working on `/ratchet {text}`…")
        self.spawn(self._admin(text, user, respond), "admin")

    async def _admin(self, text: str, user: str, respond: Any) -> None:
        await respond(text=await run_command(self.admin, text, actor=f"slack:{user}"), response_type="ephemeral")

    async def _ignore(self, context: dict[str, Any]) -> None:
        await self._finish(context)

    # --- serving -------------------------------------------------------------------------------------------
    async def serve_http(self, host: str, port: int) -> web.AppRunner:
        """Serve ``/slack/events`` over HTTP (signing-secret mode); returns the runner to stop it."""
        web_app = self.app.web_app(path="/slack/events", port=port)
        web_app.middlewares.append(_reject_unparsable)
        runner = web.AppRunner(web_app)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        log.info("slack.http_listening", host=host, port=port)
        return runner

    async def run(self) -> None:
        """Run until cancelled: Socket Mode (default) or HTTP, per ``bot.mode``."""
        bot = self.settings.bot
        await self.pipeline.warm_up()
        self._recovery = asyncio.ensure_future(self._recovery_loop())
        if bot.mode == "http":
            runner = await self.serve_http(bot.http_host, bot.http_port)
            try:
                await asyncio.Event().wait()
            finally:
                await runner.cleanup()
        else:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            await AsyncSocketModeHandler(self.app, bot.slack_app_token).start_async()


@web.middleware
async def _reject_unparsable(request: web.Request, handler: Any) -> web.StreamResponse:
    """A body bolt cannot parse (not JSON, not an object, an ``event`` that is not an object, a broken
    ``payload`` form field) gets 400, not a 500 with a stack trace: bolt parses the body before it checks the
    signature, so anyone could otherwise fill the log."""
    try:
        if request.content_type == "application/json":
            body = json.loads(await request.read())  # aiohttp keeps the bytes: bolt reads them again
            if not isinstance(body, dict) or not isinstance(body.get("event", {}), dict):
                raise ValueError("a Slack request body is a JSON object whose event is an object")
        return await handler(request)
    except (ValueError, AttributeError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
        log.warning("slack.unparsable_request", error=repr(exc)[:200])
        return web.Response(status=400, text="malformed request")
