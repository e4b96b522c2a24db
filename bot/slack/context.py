"""Where a Slack question was asked, and what follows from it: groups, channel settings, thread history."""

from __future__ import annotations

import re
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from engine.logs import get_logger
from engine.settings import BotSettings, ChannelSettings

log = get_logger(__name__)

_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")


def strip_mentions(text: str) -> str:
    """The question without ``<@U123>`` mentions."""
    return _MENTION.sub("", text or "").strip()


def mentions(text: str, user_id: str | None) -> bool:
    """Whether ``text`` tags ``user_id``."""
    return bool(user_id) and f"<@{user_id}" in (text or "")


def channel_settings(bot: BotSettings, channel: str | None) -> ChannelSettings:
    """The per-channel settings (defaults for unlisted channels)."""
    return bot.channels.get(channel or "", ChannelSettings())


def groups_for(bot: BotSettings, *, channel: str | None, user: str | None, kind: str) -> list[str]:
    """The access groups an answer may draw on: only what *everyone who will see the answer* may read.

    - ``im`` (a direct message, the asker alone): the public groups + the asker's groups (``bot.user_groups``);
    - ``private`` (a private channel or group DM, seen by all its members): the public groups + the groups an
      admin mapped to that channel (``bot.channel_groups``) — never the asker's own groups;
    - ``public`` (a public channel, or a channel whose kind is unknown): the public groups only.
    """
    groups = list(bot.public_groups)
    if kind == "im":
        groups += bot.user_groups.get(user or "", [])
    elif kind == "private":
        groups += bot.channel_groups.get(channel or "", [])
    return sorted(set(groups))


@dataclass
class ChannelInfo:
    """What the bot needs to know about a conversation."""

    id: str
    kind: str  # "im" (1:1 DM) | "private" (private channel, group DM) | "public" (public or unknown)

    @property
    def is_im(self) -> bool:
        return self.kind == "im"


class ChannelDirectory:
    """conversations.info, cached per channel id."""

    def __init__(self) -> None:
        self._cache: dict[str, ChannelInfo] = {}

    async def info(self, client: AsyncWebClient, channel: str) -> ChannelInfo:
        """The kind of ``channel``. A channel Slack does not describe (or an error) counts as public: the
        fewest documents, never more."""
        if channel not in self._cache:
            try:
                resp = await client.conversations_info(channel=channel)
                data = resp.get("channel") or {}
            except SlackApiError as exc:
                log.warning("slack.channel_unknown", channel=channel, error=str(exc)[:120])
                return ChannelInfo(channel, "public")
            if data.get("is_im"):
                kind = "im"
            elif data.get("is_mpim") or data.get("is_private"):
                kind = "private"
            else:
                kind = "public"
            self._cache[channel] = ChannelInfo(channel, kind)
        return self._cache[channel]


async def thread_history(client: AsyncWebClient, *, channel: str, thread_ts: str, before_ts: str,
                         bot_user_id: str | None, limit: int) -> list[dict[str, str]]:
    """Earlier turns of a thread (conversations.replies) as chat messages, oldest first."""
    if limit <= 0:
        return []
    resp = await client.conversations_replies(channel=channel, ts=thread_ts, limit=limit + 1)
    turns = []
    for message in resp.get("messages") or []:
        if float(message.get("ts", "0")) >= float(before_ts):
            continue
        from_bot = bool(message.get("bot_id")) or message.get("user") == bot_user_id
        text = strip_mentions(message.get("text", ""))
        if text:
            turns.append({"role": "assistant" if from_bot else "user", "content": text})
    return turns[-limit:]

