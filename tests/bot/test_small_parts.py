"""The bot's small pure parts: permissions, prompt/citations, reactions, the Slack manifest, the event ledger."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.prompting import build_messages, cited_numbers, trim_history
from engine.settings import BotSettings
from bot.slack.context import groups_for, strip_mentions
from bot.slack.votes import reaction_value

MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "slack-manifest.yml"


def test_groups_are_what_everyone_who_sees_the_answer_may_read():
    bot = BotSettings(channel_groups={"G0HR": ["hr"]}, user_groups={"U0BOB": ["finance"]})
    assert groups_for(bot, channel="C0PUB", user="U0BOB", kind="public") == ["public"]
    assert groups_for(bot, channel="G0HR", user="U0ALICE", kind="private") == ["hr", "public"]
    assert groups_for(bot, channel="D0DM", user="U0BOB", kind="im") == ["finance", "public"]
    # a private channel's answer is seen by all its members: the asker's own groups never count there
    assert groups_for(bot, channel="G0OTHER", user="U0BOB", kind="private") == ["public"]
    assert groups_for(bot, channel="G0HR", user="U0BOB", kind="private") == ["hr", "public"]


def test_citations_and_history_budget():
    assert cited_numbers("See [2] and [1], again [2]; not [7].", available=3) == [2, 1]
    history = [{"role": "user", "content": "x" * 30}, {"role": "assistant", "content": "y" * 30},
               {"role": "user", "content": "z" * 30}]
    assert trim_history(history, max_messages=10, max_chars=70) == history[1:]
    assert trim_history(history, max_messages=0, max_chars=1000) == []
    messages = build_messages("q?", [], history[:1])
    assert [m["role"] for m in messages] == ["system", "user", "user"] and messages[-1]["content"] == "q?"


def test_mentions_and_reactions():
    assert strip_mentions("<@U0BOT> <@U123|bob>  hello ") == "hello"
    assert reaction_value("+1::skin-tone-4") == 1 and reaction_value("thumbsdown") == -1
    assert reaction_value("tada") is None


def test_manifest_subscribes_to_what_the_app_handles():
    manifest = yaml.safe_load(MANIFEST.read_text())
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert events == {"app_mention", "message.im", "reaction_added", "reaction_removed"}
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"app_mentions:read", "chat:write", "reactions:read", "commands", "im:history"} <= scopes
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/ratchet"]
    assert manifest["settings"]["socket_mode_enabled"] is True


def test_citation_location_does_not_repeat_the_title() -> None:
    from bot.prompting import location

    assert location("Voting", "Voting > Changing your mind") == "Voting > Changing your mind"
    assert location("Voting", "Voting") == "Voting"
    assert location("Voting", "Why it matters") == "Voting > Why it matters"
    assert location("Voting Guide", "Voting") == "Voting Guide > Voting"
    assert location("", "Intro") == "Intro" and location("T", None) == "T"
