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
    public_groups: list[str] = Field(default_factory=lambda: ["public"],
                                     description="groups a public-channel asker may read")
    answer_max_tokens: int | None = Field(default=None, description="default: engine.default_max_tokens")
    history_max_messages: int = Field(default=10, ge=0, description="thread messages used as context")
    history_max_chars: int = Field(default=4000, ge=0, description="thread context budget (characters)")
    generation_timeout_s: float = Field(default=120.0, gt=0, description="whole answer, after the first token")
    dedupe_takeover_s: float = Field(default=120.0, gt=0,
                                     description="an event left in flight this long by a dead process is redone")
    warm_up_timeout_s: float = Field(default=60.0, gt=0, description="connect + load models at start")
    thinking_text: str = ":hourglass_flowing_sand: Thinking…"
    local_user: str = Field(default="local", description="user id of `ratchet chat` / `ratchet ask`")


class AdminSettings(BaseModel):
    """Who may administer Ratchet, and the admin web page."""

    admin_user_ids: list[str] = Field(default_factory=list)
    admin_usergroup_id: str | None = None
    admin_token: str | None = None
    notify_channel: str | None = None
    web_host: str = "127.0.0.1"
    web_port: int = 8088
    session_hours: float = Field(default=12.0, gt=0, description="admin page sign-in lifetime")
    cookie_secure: bool = Field(default=False, description="send the session cookie over HTTPS only")
    metrics_public: bool = Field(default=True, description="serve /metrics without sign-in (Prometheus)")
    page_rows: int = Field(default=50, ge=1, le=1000, description="rows per table on the admin page")
    plot_days: int = Field(default=14, ge=1, le=365, description="days shown in the admin page's plots")
    bot_metrics_port: int | None = Field(
        default=None, description="`ratchet bot` also serves its own /metrics on this port (unset = off)"
    )
