"""Slack request payloads with the shapes of Slack's documentation, and request signing."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

from bot.testing.fake_slack import BOT_USER, TEAM

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
APP_ID = "A0RATCHET"


def new_ts() -> str:
    return f"{time.time():.6f}"


def event_callback(event: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    """The Events API envelope (https://api.slack.com/apis/events-api#callback-field)."""
    return {
        "token": "XXYYZZ", "team_id": TEAM, "api_app_id": APP_ID, "event": event, "type": "event_callback",
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}", "event_time": int(time.time()),
        "authorizations": [{"enterprise_id": None, "team_id": TEAM, "user_id": BOT_USER, "is_bot": True,
                            "is_enterprise_install": False}],
        "is_ext_shared_channel": False, "event_context": "4-eyJldCI6ImFwcF9tZW50aW9uIn0",
    }


def app_mention(text: str, *, channel: str = "C0PUBLIC", user: str = "U0ALICE", ts: str | None = None,
                thread_ts: str | None = None) -> dict[str, Any]:
    """An ``app_mention`` event (https://api.slack.com/events/app_mention)."""
    ts = ts or new_ts()
    event = {"type": "app_mention", "user": user, "text": f"<@{BOT_USER}> {text}".strip(), "ts": ts,
             "channel": channel, "event_ts": ts, "client_msg_id": str(uuid.uuid4())}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def message(text: str, *, channel: str, user: str = "U0ALICE", channel_type: str = "channel",
            ts: str | None = None, **extra: Any) -> dict[str, Any]:
    """A ``message`` event (message.channels / message.im)."""
    ts = ts or new_ts()
    return {"type": "message", "channel": channel, "user": user, "text": text, "ts": ts, "event_ts": ts,
            "channel_type": channel_type, **extra}


def reaction(reaction_name: str, *, channel: str, ts: str, user: str, added: bool = True,
             item_user: str = BOT_USER) -> dict[str, Any]:
    """``reaction_added`` / ``reaction_removed`` (https://api.slack.com/events/reaction_added)."""
    return {"type": "reaction_added" if added else "reaction_removed", "user": user, "reaction": reaction_name,
            "item_user": item_user, "item": {"type": "message", "channel": channel, "ts": ts},
            "event_ts": new_ts()}


def slash_command(text: str, *, user: str, response_url: str, channel: str = "C0PUBLIC") -> str:
    """A slash command POST body (form-encoded, https://api.slack.com/interactivity/slash-commands)."""
    return urlencode({"token": "XXYYZZ", "team_id": TEAM, "team_domain": "example", "channel_id": channel,
                      "channel_name": "general", "user_id": user, "user_name": user.lower(), "command": "/ratchet",
                      "text": text, "api_app_id": APP_ID, "response_url": response_url,
                      "trigger_id": "13345224609.738474920.8088930838d88f008e0"})


def block_action(action_id: str, value: str, *, user: str, channel: str, message_ts: str) -> str:
    """A ``block_actions`` interaction (form field ``payload``)."""
    payload = {
        "type": "block_actions", "user": {"id": user, "username": user.lower(), "team_id": TEAM},
        "api_app_id": APP_ID, "token": "XXYYZZ", "team": {"id": TEAM, "domain": "example"},
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False},
        "trigger_id": "13345224609.738474920.8088930838d88f008e0", "channel": {"id": channel, "name": "general"},
        "message": {"type": "message", "ts": message_ts, "user": BOT_USER, "text": "answer"},
        "response_url": "http://127.0.0.1:9/unused",
        "actions": [{"action_id": action_id, "block_id": "ratchet_feedback", "value": value, "type": "button",
                     "action_ts": new_ts()}],
    }
    return urlencode({"payload": json.dumps(payload)})


def signed_headers(body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None,
                   content_type: str = "application/json") -> dict[str, str]:
    """Headers Slack sends, with a valid v0 signature (https://api.slack.com/authentication/verifying-requests-from-slack)."""
    ts = str(timestamp if timestamp is not None else int(time.time()))
    base = f"v0:{ts}:{body}".encode()
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature, "Content-Type": content_type}
