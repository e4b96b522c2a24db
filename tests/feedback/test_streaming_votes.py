"""A vote given while the answer is still streaming is kept: it waits for the answer and lands on it.

Slack shows the bot's message (and its reaction buttons) from the first streamed word; the answer is
recorded, and attached to the message, only at the end. SQLite and PostgreSQL.
"""

from __future__ import annotations

from bot.slack.votes import VoteRecorder
from tests.feedback.fb_helpers import answer_record as record


async def test_a_reaction_during_streaming_lands_on_the_answer(store) -> None:
    recorder = VoteRecorder(store)
    reaction = {"reaction": "+1", "user": "U0ALICE", "item_user": "UBOT",
                "item": {"type": "message", "channel": "C1", "ts": "100.5"}}
    pending = await recorder.on_reaction(reaction, bot_user_id="UBOT", added=True)
    assert pending == "pending:C1:100.5"  # nothing recorded to vote on yet — but the vote is stored
    thumbs_down = {**reaction, "user": "U0BOB", "reaction": "-1"}
    await recorder.on_reaction(thumbs_down, bot_user_id="UBOT", added=True)
    answer_id = store.record_answer(record(question="How do I get VPN access?"))
    store.attach_message(answer_id, channel="C1", ts="100.5", thread_ts="100.0")
    assert store.votes(answer_id) == {store.user_key("U0ALICE"): 1, store.user_key("U0BOB"): -1}
    # once attached, reactions find the answer directly
    assert await recorder.on_reaction({**reaction, "user": "U0CAROL"}, bot_user_id="UBOT", added=True) == answer_id
    assert len(store.votes(answer_id)) == 3


def test_a_pending_vote_is_applied_once(store) -> None:
    store.record_message_vote(channel="C2", ts="7.1", user="U0ALICE", value=1, source="reaction")
    answer_id = store.record_answer(record(question="Where is the travel policy?"))
    store.attach_message(answer_id, channel="C2", ts="7.1", thread_ts=None)
    store.attach_message(answer_id, channel="C2", ts="7.1", thread_ts=None)  # a second attach applies nothing
    history = store.vote_history(answer_id)
    assert [(e.value, e.source) for e in history] == [(1, "reaction")]
