"""`ratchet ask`, `ratchet chat` (the pipeline from a terminal) and `ratchet bot` (the Slack app)."""

from __future__ import annotations

import asyncio
import sys
import uuid
from typing import TextIO

import typer

from bot.answers import DELTA, FINAL, Answer, Question
from bot.cli.common import console, friendly_errors, print_json, run, settings
from bot.components import Components, call
from bot.pipeline import Pipeline
from bot.slack.blocks import citation_line
from engine.metrics import serve_metrics
from engine.settings import Settings

CHAT_HELP = "Ask a question. `+` / `-` rate the last answer, `/quit` (or Ctrl-D) leaves."


def _question(s: Settings, text: str, *, user: str | None, channel: str | None, source: str,
              thread_key: str | None = None, history: list[dict[str, str]] | None = None) -> Question:
    """A terminal question: no channel counts as a DM (the user's groups); a channel with mapped groups as a
    private channel (its groups); any other channel as public."""
    from bot.slack.context import channel_settings, groups_for

    per_channel = channel_settings(s.bot, channel)
    return Question(
        text=text, user=user or s.bot.local_user, channel=channel, source=source, thread_key=thread_key,
        history=history or [], collections=per_channel.collections, adapter_override=per_channel.adapter_alias,
        groups=groups_for(s.bot, channel=channel, user=user or s.bot.local_user,
                          kind="im" if channel is None else "private" if channel in s.bot.channel_groups
                          else "public"),
    )


@friendly_errors
def ask(
    question: str = typer.Argument(..., help="the question"),
    user: str | None = typer.Option(None, "--user", help="ask as this user (their groups apply)"),
    channel: str | None = typer.Option(None, "--channel", help="ask as if in this channel (its settings apply)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="show every log line (libraries too)"),
) -> None:
    """One answer through the whole pipeline (guardrails, retrieval, the routed adapter)."""
    s = settings(interactive=True, verbose=verbose)
    answer = run(_ask(s, _question(s, question, user=user, channel=channel, source="cli")))
    if as_json:
        print_json(answer.as_json())
    else:
        sys.stdout.write(answer.text + "\n")
        _print_citations(answer, sys.stdout)
    if answer.error:
        raise typer.Exit(2)


async def _ask(s: Settings, question: Question) -> Answer:
    pipeline = Pipeline(s)
    try:
        await pipeline.warm_up()
        return await pipeline.answer(question)
    finally:
        await pipeline.aclose()


def _print_citations(answer: Answer, out: TextIO) -> None:
    for number, citation in enumerate(answer.citations, start=1):
        out.write(f"  {citation_line(number, citation)}\n")
    out.flush()


@friendly_errors
def chat(
    user: str | None = typer.Option(None, "--user", help="chat as this user"),
    channel: str | None = typer.Option(None, "--channel", help="as if in this channel"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="show every log line (libraries too)"),
) -> None:
    """Terminal chat through the same pipeline as Slack: streaming answers with citations, +/- to vote."""
    s = settings(interactive=True, verbose=verbose)
    run(ChatSession(s, user=user, channel=channel).run(sys.stdin, sys.stdout))


class ChatSession:
    """A terminal conversation (one 'thread'): questions from a text stream, answers streamed back."""

    def __init__(self, s: Settings, *, user: str | None = None, channel: str | None = None) -> None:
        self.settings = s
        self.user = user or s.bot.local_user
        self.channel = channel
        self.thread_key = f"chat:{uuid.uuid4().hex[:12]}"
        self.history: list[dict[str, str]] = []
        self.last: Answer | None = None
        self.components = Components(s)

    async def run(self, stdin: TextIO, out: TextIO) -> None:
        """Read lines until EOF or /quit."""
        pipeline = Pipeline(self.settings, self.components)
        await pipeline.warm_up()
        out.write(CHAT_HELP + "\n")
        try:
            while True:
                out.write("you> ")
                out.flush()
                line = await asyncio.to_thread(stdin.readline)
                if not line or line.strip() in ("/quit", "/exit"):
                    break
                await self.handle(pipeline, line.strip(), out)
        finally:
            await pipeline.aclose()
            out.write("\n")
            out.flush()

    async def handle(self, pipeline: Pipeline, line: str, out: TextIO) -> None:
        """One input line: a vote (+/-) or a question."""
        if line in ("+", "-"):
            out.write(await self.vote(pipeline, 1 if line == "+" else -1) + "\n")
            return
        if not line:
            return
        question = _question(self.settings, line, user=self.user, channel=self.channel, source="chat",
                             thread_key=self.thread_key, history=list(self.history))
        out.write("ratchet> ")
        async for event in pipeline.stream(question):
            if event.kind == DELTA:
                out.write(event.text)
                out.flush()
            elif event.kind == FINAL:
                self._finish(event.answer, out)
        if not (self.last.error or self.last.refused):
            self.history += [{"role": "user", "content": line}, {"role": "assistant", "content": self.last.text}]

    def _finish(self, answer: Answer, out: TextIO) -> None:
        streamed = not (answer.refused or answer.error or answer.cached)
        out.write("\n" if streamed else f"{answer.text}\n")
        _print_citations(answer, out)
        self.last = answer

    async def vote(self, pipeline: Pipeline, value: int) -> str:
        """Rate the last answer (the same vote path as a Slack reaction)."""
        if self.last is None or self.last.answer_id is None:
            return "(nothing to rate yet)"
        await call(self.components.feedback.record_vote, self.last.answer_id, self.user, value, "chat")
        return f"(recorded {'+1' if value > 0 else '-1'} on the last answer)"


@friendly_errors
def bot() -> None:
    """Run the Slack app (Socket Mode by default; HTTP with bot.mode=http)."""
    from bot.slack.app import RatchetSlackApp

    s = settings()
    missing = _missing_tokens(s)
    if missing:
        console.print(f"[bold red]error:[/] set {', '.join(missing)} to connect to Slack "
                      "(or try `ratchet chat` without Slack)")
        raise typer.Exit(1)
    if s.admin.bot_metrics_port:
        serve_metrics(s.admin.bot_metrics_port)
    console.print(f"Ratchet is connecting to Slack ({s.bot.mode} mode); Ctrl-C stops it.")
    try:
        run(RatchetSlackApp(s).run())
    except KeyboardInterrupt:
        console.print("stopped")


def _missing_tokens(s: Settings) -> list[str]:
    need = {"RATCHET_BOT__SLACK_BOT_TOKEN": s.bot.slack_bot_token}
    if s.bot.mode == "http":
        need["RATCHET_BOT__SLACK_SIGNING_SECRET"] = s.bot.slack_signing_secret
    else:
        need["RATCHET_BOT__SLACK_APP_TOKEN"] = s.bot.slack_app_token
    return [name for name, value in need.items() if not value]
