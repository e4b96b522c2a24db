"""Answering in Slack: a "thinking" reply in the thread, streamed edits (≤ 1 per interval), the final message.

This is the only place where pipeline events meet Slack; the pipeline itself knows nothing of Slack.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.answers import DELTA, FINAL, Answer, Question
from bot.components import call
from bot.pipeline import Pipeline
from feedback import FeedbackStore
from bot.slack.blocks import answer_blocks, streaming_text
from engine.logs import get_logger
from engine.metrics import stage_timer

log = get_logger(__name__)


@dataclass
class SlackReply:
    """Where the answer goes: a new message in the thread, or ``ts``, one posted before (a replayed event)."""

    channel: str
    thread_ts: str
    ts: str | None = None
    on_posted: Callable[[str], Awaitable[Any]] | None = None  # told the new message's ts, before any answer


class Responder:
    """Runs the pipeline for one question and renders it into one Slack message."""

    def __init__(self, pipeline: Pipeline, client: AsyncWebClient, feedback: FeedbackStore) -> None:
        self.pipeline = pipeline
        self.client = client
        self.feedback = feedback
        self.settings = pipeline.settings.bot

    async def post_text(self, reply: SlackReply, text: str) -> str:
        """A plain threaded message (help text, refusals before the pipeline); returns its ts."""
        with stage_timer("slack.post"):
            resp = await self.client.chat_postMessage(channel=reply.channel, thread_ts=reply.thread_ts, text=text)
        return resp["ts"]

    async def answer(self, question: Question, reply: SlackReply) -> Answer:
        """Think, stream, finish; returns the final answer (its message attached in the feedback store)."""
        ts = reply.ts
        if ts is None:
            ts = await self.post_text(reply, self.settings.thinking_text)
            if reply.on_posted is not None:
                await reply.on_posted(ts)
        live = _LiveMessage(self.client, reply.channel, ts, self.settings.stream_edit_interval_s)
        parts: list[str] = []
        final: Answer | None = None
        async for event in self.pipeline.stream(question):
            if event.kind == DELTA:
                parts.append(event.text)
                await live.show(streaming_text("".join(parts)))
            elif event.kind == FINAL:
                final = event.answer
        assert final is not None, "the pipeline always ends with a final answer"
        with stage_timer("slack.update"):
            await self.client.chat_update(channel=reply.channel, ts=ts, text=final.text, blocks=answer_blocks(final))
        if final.answer_id:
            await call(self.feedback.attach_message, final.answer_id, channel=reply.channel,
                       ts=ts, thread_ts=reply.thread_ts)
        log.info("slack.answered", channel=reply.channel, ts=ts, answer_id=final.answer_id, refused=final.refused,
                 error=final.error, edits=live.edits)
        return final


class _LiveMessage:
    """A message edited as text streams in: the first text at once, then at most one edit per interval."""

    def __init__(self, client: AsyncWebClient, channel: str, ts: str, interval_s: float) -> None:
        self.client = client
        self.channel = channel
        self.ts = ts
        self.interval_s = interval_s
        self.last_edit: float | None = None
        self.edits = 0

    async def show(self, text: str) -> None:
        """Edit the message to ``text`` unless the previous edit was less than an interval ago."""
        now = time.monotonic()
        if self.last_edit is not None and now - self.last_edit < self.interval_s:
            return
        self.last_edit = now
        self.edits += 1
        with stage_timer("slack.update"):
            await self.client.chat_update(channel=self.channel, ts=self.ts, text=text)
