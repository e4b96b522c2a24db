"""Where a Slack question was asked, and what follows from it: groups, channel settings, thread history."""

from __future__ import annotations

import re
from dataclasses import dataclass

from slack_sdk.web.async_client import AsyncWebClient

from engine.settings import BotSettings, ChannelSettings

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


def groups_for(bot: BotSettings, *, channel: str | None, user: str | None, private: bool) -> list[str]:
    """Access groups for retrieval: public channel ⇒ public groups; private channel/DM ⇒ plus mapped groups."""
    groups = list(bot.public_groups)
    if private:
        groups += bot.channel_groups.get(channel or "", []) + bot.user_groups.get(user or "", [])
    return sorted(set(groups))


@dataclass
class ChannelInfo:
    """What the bot needs to know about a conversation."""

    id: str
    private: bool  # private channel, group DM or DM
    is_im: bool


class ChannelDirectory:
    """conversations.info, cached per channel id."""

    def __init__(self) -> None:
        self._cache: dict[str, ChannelInfo] = {}

    async def info(self, client: AsyncWebClient, channel: str) -> ChannelInfo:
        """Whether ``channel`` is private (unknown channels count as private: fewer documents, never more)."""
        if channel not in self._cache:
            resp = await client.conversations_info(channel=channel)
            data = resp.get("channel") or {}
            is_im = bool(data.get("is_im") or data.get("is_mpim"))
            private = is_im or bool(data.get("is_private")) or not data
            self._cache[channel] = ChannelInfo(channel, private, is_im)
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

