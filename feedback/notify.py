"""Tell admins about candidates in a Slack channel (slack_sdk, the project's Slack Web API base URL)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.logs import get_logger

if TYPE_CHECKING:
    from engine.settings import Settings

log = get_logger(__name__)


def notify_admins(settings: Settings, text: str) -> bool:
    """Post ``text`` to ``admin.notify_channel``. A logged no-op without a bot token or a channel.

    Returns True when Slack accepted the message. A Slack failure is logged, never raised: a candidate is
    not lost because a notification failed.
    """
    token, channel = settings.bot.slack_bot_token, settings.admin.notify_channel
    if not token or not channel:
        log.info("notify.skipped", reason="no slack_bot_token" if not token else "no admin.notify_channel",
                 text=text[:200])
        return False
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    try:
        WebClient(token=token, base_url=settings.bot.slack_api_url).chat_postMessage(channel=channel, text=text)
    except (SlackApiError, OSError) as exc:
        log.warning("notify.failed", channel=channel, error=str(exc))
        return False
    log.info("notify.sent", channel=channel)
    return True
