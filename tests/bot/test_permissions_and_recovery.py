"""Who may see what, and nothing acknowledged is lost: channel permissions, and replay of orphaned events.

Real pipeline (vLLM, Weaviate, guardrails); the only fake is the Slack Web API (bot/testing/fake_slack.py).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from bot.slack.dedupe import ProcessedEvent
from engine.db import session_factory
from engine.timeutil import utcnow
from tests.bot.slack_payloads import app_mention, event_callback

pytestmark = [pytest.mark.vllm, pytest.mark.weaviate]
SALARY = "What is the salary band E5?"


async def _ask(harness, fake_slack, event: dict) -> str:
    await harness.post_event(event_callback(event))
    await harness.bot.drain()
    finals = [c for c in fake_slack.final_updates() if c.params["channel"] == event["channel"]]
    return json.dumps(finals[-1].params["blocks"])


async def test_a_private_channel_sees_only_what_all_its_members_may_read(bot_settings, bots, fake_slack):
    # U0HRBOB may read HR documents, but the answer in a private channel is seen by every member of it
    settings = bot_settings(bot={"channel_groups": {"G0HRTEAM": ["hr"]}})
    harness = await bots(settings)
    fake_slack.add_channel("G0MIXED", private=True)
    fake_slack.add_channel("G0HRTEAM", private=True)
    mixed = await _ask(harness, fake_slack, app_mention(SALARY, channel="G0MIXED", user="U0HRBOB"))
    assert "salaries.md" not in mixed
    # a channel an admin mapped to the hr group: its members may read HR documents, whoever asks
    hr_team = await _ask(harness, fake_slack, app_mention(SALARY, channel="G0HRTEAM", user="U0ALICE"))
    assert "salaries.md" in hr_team


async def test_an_unknown_channel_counts_as_public(bot_settings, bots, fake_slack):
    settings = bot_settings()
    harness = await bots(settings)
    fake_slack.fail_conversations_info = True
    answer = await _ask(harness, fake_slack, app_mention(SALARY, channel="C0UNKNOWN", user="U0HRBOB"))
    assert "salaries.md" not in answer


async def test_an_acknowledged_question_left_by_a_dead_bot_is_answered_once(bot_settings, bots, fake_slack):
    """A bot claimed and acknowledged an event, then died before answering: the next bot replays it from the
    ledger — once, even when two bots sweep at the same time."""
    settings = bot_settings(bot={"dedupe_takeover_s": 1.0})
    event = app_mention("How do I get VPN access?")
    body = event_callback(event)
    sessions = session_factory(settings.db_url)
    with sessions.begin() as s:  # what the dead bot left: a claim with the body, never finished
        s.add(ProcessedEvent(event_id=body["event_id"], kind="app_mention", status="in_flight", owner="dead-bot",
                             attempts=1, claimed_at=utcnow() - timedelta(seconds=30), payload=body))
    first = await bots(settings)
    second = await bots(settings)
    assert await first.bot.recover_orphans() + await second.bot.recover_orphans() == 1
    await first.bot.drain()
    await second.bot.drain()
    finals = [c for c in fake_slack.final_updates()]
    assert len(finals) == 1 and finals[0].params["channel"] == "C0PUBLIC"
    with sessions() as s:
        assert s.get(ProcessedEvent, body["event_id"]).status == "done"
    # a redelivery of the same event after that is dropped
    resp = await first.post_event(body)
    await first.bot.drain()
    assert resp.status_code == 200 and len(fake_slack.final_updates()) == 1
