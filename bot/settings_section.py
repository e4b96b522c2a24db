"""Settings sections owned by ``bot/`` (Slack app, local chat, admin access). Pydantic only."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ChannelSettings(BaseModel):
    """Per-channel behaviour."""

    respond_only_when_tagged: bool = True
    collections: list[str] | None = None
    adapter_alias: str | None = Field(default=None, description="e.g. 'canary' or a version id")


class BotSettings(BaseModel):
    """The Slack app."""

    slack_bot_token: str | None = None
    slack_app_token: str | None = None
    slack_signing_secret: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    mode: str = Field(default="socket", description="'socket' or 'http'")
    http_port: int = 3000
    max_question_chars: int = 4000
    stream_edit_interval_s: float = 1.0
    service_timeout_s: float = 5.0
    channel_groups: dict[str, list[str]] = Field(default_factory=dict)
    user_groups: dict[str, list[str]] = Field(default_factory=dict)
    channels: dict[str, ChannelSettings] = Field(default_factory=dict)


class AdminSettings(BaseModel):
    """Who may administer Ratchet, and the admin web page."""

    admin_user_ids: list[str] = Field(default_factory=list)
    admin_usergroup_id: str | None = None
    admin_token: str | None = None
    notify_channel: str | None = None
    web_host: str = "127.0.0.1"
    web_port: int = 8088
