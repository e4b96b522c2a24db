"""Scenario tests: signed Slack requests into the real bolt app, the real pipeline (vLLM, Weaviate) behind it."""

from __future__ import annotations

import asyncio
import json
import re
import time

import pytest
from slack_bolt.adapter.socket_mode.async_internals import run_async_bolt_app
from slack_sdk.socket_mode.request import SocketModeRequest

from bot import messages
from feedback import FeedbackStore
from bot.testing.fake_slack import BOT_USER
from tests.bot.slack_payloads import (
    app_mention,
    event_callback,
    message,
    new_ts,
    reaction,
    signed_headers,
)

pytestmark = [pytest.mark.vllm, pytest.mark.weaviate]


async def _answered(slack, thread_ts: str, count: int = 1) -> list:
    def done() -> bool:
        posted = [c for c in slack.called("chat.postMessage") if c.params.get("thread_ts") == thread_ts]
        posted_ts = {m["ts"] for m in slack.messages.get("C0PUBLIC", []) if m.get("thread_ts") == thread_ts}
        finals = [c for c in slack.final_updates() if c.params.get("ts") in posted_ts]
        return len(posted) >= count and len(finals) >= count

    await slack.wait_for(done, timeout_s=120)
    posted_ts = {m["ts"] for m in slack.messages["C0PUBLIC"] if m.get("thread_ts") == thread_ts}
    return [c for c in slack.final_updates() if c.params.get("ts") in posted_ts]


async def test_mention_gets_streamed_threaded_answer_with_citations(bot_settings, bots, fake_slack):
    # grounding off: the model's text streams as it comes, so the edit mechanics are seen on every run
    settings = bot_settings(guardrails={"fact_check": False})
    harness = await bots(settings)
    event = app_mention("How do I get VPN access?")
    started = time.monotonic()
    resp = await harness.post_event(event_callback(event))
    ack_s = time.monotonic() - started
    assert resp.status_code == 200 and ack_s < 3.0

    finals = await _answered(fake_slack, event["ts"])
    await harness.bot.drain()
    post = fake_slack.called("chat.postMessage")[0]
    assert post.params["thread_ts"] == event["ts"] and post.params["channel"] == "C0PUBLIC"
    assert post.params["text"] == settings.bot.thinking_text
    final = finals[-1].params
    kinds = [b["type"] for b in final["blocks"]]
    assert kinds == ["section", "context", "actions"]
    assert "vpn.md" in json.dumps(final["blocks"][1])
    action_ids = [e["action_id"] for e in final["blocks"][2]["elements"]]
    assert action_ids == ["ratchet_vote_up", "ratchet_vote_down", "ratchet_regenerate"]
    # streamed: at least one in-progress edit before the final one, never faster than the interval
    edits = [c for c in fake_slack.called("chat.update") if not c.params.get("blocks")]
    assert edits and all(e.params["text"].endswith("▍") for e in edits)
    gaps = [b.at - a.at for a, b in zip(edits, edits[1:])]
    assert all(g >= settings.bot.stream_edit_interval_s * 0.9 for g in gaps)
    # recorded, and the Slack message is attached to the answer
    answer_id = FeedbackStore(settings).find_answer(channel="C0PUBLIC", ts=finals[-1].params["ts"])
    stored = FeedbackStore(settings).get(answer_id)
    assert stored.question == "How do I get VPN access?" and stored.source == "slack"
    assert stored.chunk_ids and stored.prompt[-1]["content"] == "How do I get VPN access?"


async def test_follow_up_in_thread_uses_thread_history(bot_settings, bots, fake_slack):
    settings = bot_settings()
    harness = await bots(settings)
    root_ts = new_ts()
    fake_slack.add_message("C0PUBLIC", root_ts, f"<@{BOT_USER}> How do I get VPN access?", user="U0ALICE")
    fake_slack.messages["C0PUBLIC"].append({"type": "message", "user": BOT_USER, "bot_id": "BBOT",
                                            "text": "Open a ticket in the IT portal [1].", "ts": new_ts(),
                                            "thread_ts": root_ts})
    follow = app_mention("Which client do I install?", thread_ts=root_ts)
    await harness.post_event(event_callback(follow))
    finals = await _answered(fake_slack, root_ts)
    await harness.bot.drain()
    replies = fake_slack.called("conversations.replies")
    assert replies and replies[0].params["ts"] == root_ts
    answer_id = FeedbackStore(settings).find_answer(channel="C0PUBLIC", ts=finals[-1].params["ts"])
    history = FeedbackStore(settings).get(answer_id).history
    assert [m["role"] for m in history] == ["user", "assistant"]
    assert history[0]["content"] == "How do I get VPN access?"


async def test_retries_and_a_restart_still_give_one_answer(bot_settings, bots, fake_slack):
    settings = bot_settings()
    first = await bots(settings, owner="process-1")
    event = app_mention("How many days of paid leave do I get?")
    body = event_callback(event)
    responses = await asyncio.gather(first.post_event(body), first.post_event(body, retry_num=1),
                                     first.post_event(body, retry_num=2))
    assert [r.status_code for r in responses] == [200, 200, 200]
    await _answered(fake_slack, event["ts"])
    await first.close()
    # the bot restarts (new process id, same database); Slack retries once more
    second = await bots(settings, owner="process-2")
    resp = await second.post_event(body, retry_num=3)
    assert resp.status_code == 200
    await second.bot.drain()
    posted = [c for c in fake_slack.called("chat.postMessage") if c.params.get("thread_ts") == event["ts"]]
    assert len(posted) == 1
    assert second.bot.ledger.status(body["event_id"]) == "done"


async def test_socket_mode_retry_attempt_is_deduplicated(bot_settings, bots, fake_slack):
    harness = await bots(bot_settings(bot={"mode": "socket"}))
    body = event_callback(app_mention(""))  # an empty mention: answered with the help text, no model call
    for attempt in (None, 1):
        request = SocketModeRequest(type="events_api", envelope_id=f"env-{attempt}", payload=body,
                                    accepts_response_payload=False, retry_attempt=attempt,
                                    retry_reason="timeout" if attempt else None)
        resp = await run_async_bolt_app(harness.bot.app, request)
        assert resp.status == 200
    await harness.bot.drain()
    posted = fake_slack.called("chat.postMessage")
    assert [c.params["text"] for c in posted] == [messages.HELP]


async def test_reactions_add_replace_remove_on_own_answers_only(bot_settings, bots, fake_slack):
    settings = bot_settings()
    harness = await bots(settings)
    event = app_mention("How do I get VPN access?")
    await harness.post_event(event_callback(event))
    finals = await _answered(fake_slack, event["ts"])
    await harness.bot.drain()
    answer_ts = finals[-1].params["ts"]
    store = FeedbackStore(settings)
    answer_id = store.find_answer(channel="C0PUBLIC", ts=answer_ts)

    async def react(name: str, *, added: bool = True, user: str = "U0CAROL", item_user: str = BOT_USER) -> None:
        await harness.post_event(event_callback(reaction(name, channel="C0PUBLIC", ts=answer_ts, user=user,
                                                         added=added, item_user=item_user)))
        await harness.bot.drain()

    await react("+1")
    assert store.votes(answer_id) == {"U0CAROL": 1}
    await react("-1::skin-tone-3")  # a later vote replaces the earlier one
    assert store.votes(answer_id) == {"U0CAROL": -1}
    await react("+1", added=False)  # removing the replaced reaction does not retract the current vote
    assert store.votes(answer_id) == {"U0CAROL": -1}
    await react("-1", added=False)
    assert store.votes(answer_id) == {}
    await react("tada")  # not a vote
    await react("+1", item_user="U0ALICE")  # not the bot's message
    assert store.votes(answer_id) == {}
    assert [e.value for e in store.vote_history(answer_id)] == [1, -1, 0]


async def test_twins_bots_unknown_events_and_bad_input_are_handled(bot_settings, bots, fake_slack):
    settings = bot_settings(bot={"max_question_chars": 200})
    harness = await bots(settings)
    fake_slack.add_channel("D0DM", im=True)
    twin = message(f"<@{BOT_USER}> hello", channel="C0PUBLIC")
    from_bot = message("I am another bot", channel="D0DM", channel_type="im", bot_id="B0OTHER")
    unknown = {"type": "pin_added", "user": "U0ALICE", "channel_id": "C0PUBLIC", "event_ts": new_ts()}
    for event in (twin, from_bot, unknown):
        resp = await harness.post_event(event_callback(event))
        assert resp.status_code == 200
    await harness.bot.drain()
    assert fake_slack.called("chat.postMessage") == []

    huge = app_mention("why " * 400)
    empty = app_mention("   ")
    await harness.post_event(event_callback(huge))
    await harness.post_event(event_callback(empty))
    await harness.bot.drain()
    finals = {c.params["thread_ts"]: c.params["text"] for c in fake_slack.called("chat.postMessage")}
    assert finals[empty["ts"]] == messages.HELP
    too_long = [c for c in fake_slack.final_updates() if "at most 200" in c.params["text"]]
    assert len(too_long) == 1


async def test_bad_signatures_and_stale_timestamps_are_rejected(bot_settings, bots, fake_slack):
    harness = await bots(bot_settings())
    raw = json.dumps(event_callback(app_mention("hello")))
    forged = signed_headers(raw, secret="not-the-secret")
    stale = signed_headers(raw, timestamp=int(time.time()) - 10 * 60)
    unsigned = {"Content-Type": "application/json"}
    for headers in (forged, stale, unsigned):
        resp = await harness.http.post(harness.url, content=raw, headers=headers)
        assert resp.status_code == 401
    await harness.bot.drain()
    assert fake_slack.called("chat.postMessage") == []


async def test_rate_limited_slack_calls_wait_and_retry(bot_settings, bots, fake_slack):
    harness = await bots(bot_settings())
    fake_slack.rate_limit("chat.postMessage", 1)
    event = app_mention("")
    await harness.post_event(event_callback(event))
    await harness.bot.drain()
    assert fake_slack.rate_limited == ["chat.postMessage"]
    posted = fake_slack.called("chat.postMessage")
    assert len(posted) == 1 and posted[0].params["text"] == messages.HELP


async def test_dm_uses_user_groups_and_buttons_vote_and_regenerate(bot_settings, bots, fake_slack):
    from tests.bot.slack_payloads import block_action

    settings = bot_settings()
    harness = await bots(settings)
    fake_slack.add_channel("D0HRBOB", im=True)
    dm = message("What is the salary band E5?", channel="D0HRBOB", user="U0HRBOB", channel_type="im")
    await harness.post_event(event_callback(dm))
    await harness.bot.drain()
    [final] = fake_slack.final_updates()
    assert "salaries.md" in json.dumps(final.params["blocks"])  # HR-only document, visible to the HR user
    store = FeedbackStore(settings)
    answer_id = store.find_answer(channel="D0HRBOB", ts=final.params["ts"])

    await harness.post_form(block_action("ratchet_vote_up", answer_id, user="U0HRBOB", channel="D0HRBOB",
                                         message_ts=final.params["ts"]))
    await harness.bot.drain()
    assert store.votes(answer_id) == {"U0HRBOB": 1}
    assert store.vote_history(answer_id)[-1].source == "button"

    await harness.post_form(block_action("ratchet_regenerate", answer_id, user="U0HRBOB", channel="D0HRBOB",
                                         message_ts=final.params["ts"]))
    await harness.bot.drain()
    finals = fake_slack.final_updates()
    assert len(finals) == 2 and finals[1].params["ts"] != final.params["ts"]
    alternative = store.get(store.find_answer(channel="D0HRBOB", ts=finals[1].params["ts"]))
    assert alternative.alternative_of == answer_id and alternative.thread_ts == dm["ts"]


async def test_a_grounded_answer_cites_every_sentence(bot_settings, bots, fake_slack):
    """With grounding on (the default), every sentence of the final answer ends with a citation marker,
    and the sources listed under it are exactly the cited ones."""
    settings = bot_settings(bot={"answer_max_tokens": 64})
    harness = await bots(settings)
    event = app_mention("How do I get VPN access?")
    await harness.post_event(event_callback(event))
    finals = await _answered(fake_slack, event["ts"])
    await harness.bot.drain()
    final = finals[-1].params
    text = final["text"]
    sentences = [line[2:] for line in text.splitlines() if line.startswith("> ")] or [
        s for s in re.split(r"(?<=\])\s+", text) if s.strip()]
    assert sentences and all(re.search(r"\[\d\]$", s.strip()) for s in sentences), text
    cited = {int(n) for n in re.findall(r"\[(\d)\]", text)}
    listed = final["blocks"][1]["elements"][0]["text"].count("\n") + 1
    assert cited == set(range(1, listed + 1))
    assert "vpn.md" in json.dumps(final["blocks"][1])
