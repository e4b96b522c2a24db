"""The feedback store on SQLite and PostgreSQL: answers, votes with history, privacy, admin queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fb_helpers import answer_record

from engine.timeutil import utcnow
from feedback import FeedbackError, FeedbackStore, UnknownAnswer
from feedback.models import Answer


def test_answer_roundtrip_and_message_lookup(store: FeedbackStore) -> None:
    aid = store.record_answer(answer_record(user="U1", channel="C1", thread_ts="1.0"))
    row = store.get(aid)
    assert row.prompt[0]["role"] == "system" and row.chunk_hashes == ["abc123"]
    assert store.find_answer(channel="C1", ts="2.0") is None
    store.attach_message(aid, channel="C1", ts="2.0", thread_ts="1.0")
    assert store.find_answer(channel="C1", ts="2.0") == aid


def test_votes_replace_retract_and_keep_history(store: FeedbackStore) -> None:
    aid = store.record_answer(answer_record())
    store.record_vote(aid, "U1", 1, "slack")
    store.record_vote(aid, "U2", -1, "slack")
    store.record_vote(aid, "U1", -1, "chat")  # replace
    assert store.votes(aid) == {"U1": -1, "U2": -1}
    store.record_vote(aid, "U2", 0, "slack")  # retract
    assert store.votes(aid) == {"U1": -1}
    assert [(e.user, e.value) for e in store.vote_history(aid)] == [("U1", 1), ("U2", -1), ("U1", -1), ("U2", 0)]
    view = store.recent_answers(vote="down")[0]
    assert (view.id, view.up, view.down) == (aid, 0, 1)


def test_bad_input_is_refused_and_writes_nothing(store: FeedbackStore) -> None:
    aid = store.record_answer(answer_record())
    with pytest.raises(UnknownAnswer):
        store.record_vote("nope", "U1", 1, "slack")
    with pytest.raises(FeedbackError, match="\\+1, -1 or 0"):
        store.record_vote(aid, "U1", 5, "slack")
    with pytest.raises(FeedbackError, match="source"):
        store.record_answer(answer_record(source="carrier-pigeon"))
    with pytest.raises(FeedbackError, match="prompt"):
        store.record_answer(answer_record(prompt="just text"))
    assert store.vote_history(aid) == [] and len(store.recent_answers()) == 1


def test_forget_user_deletes_questions_and_votes(store: FeedbackStore) -> None:
    mine = store.record_answer(answer_record(user="U1"))
    other = store.record_answer(answer_record(user="U2"))
    store.record_vote(mine, "U2", 1, "slack")
    store.record_vote(other, "U1", -1, "slack")
    store.record_vote(other, "U2", 1, "slack")
    counts = store.forget_user("U1")
    assert counts["answers"] == 1 and counts["votes"] == 2
    with pytest.raises(UnknownAnswer):
        store.get(mine)
    assert store.votes(other) == {"U2": 1}
    assert all(e.user != "U1" for e in store.vote_history(other))


def test_hashed_askers_are_never_stored_in_clear(make_settings) -> None:
    store = FeedbackStore(make_settings(feedback={"hash_askers": True, "asker_hash_salt": "s3cret"}))
    aid = store.record_answer(answer_record(user="U123"))
    store.record_vote(aid, "U123", 1, "slack")
    assert store.get(aid).user.startswith("h:") and "U123" not in store.get(aid).user
    assert list(store.votes(aid)) == [store.user_key("U123")]
    assert store.forget_user("U123")["answers"] == 1


def test_retention_purges_old_answers(make_settings) -> None:
    store = FeedbackStore(make_settings(feedback={"retention_days": 30}))
    old = store.record_answer(answer_record())
    new = store.record_answer(answer_record())
    store.record_vote(old, "U1", 1, "slack")
    with store.sessions.begin() as s:
        s.get(Answer, old).created_at = utcnow() - timedelta(days=31)
    assert store.purge_expired() == 1
    assert [v.id for v in store.recent_answers()] == [new]


def test_version_rates_for_admin_page(store: FeedbackStore) -> None:
    for version, value in [(None, 1), (None, -1), ("ratchet-v1", 1), ("ratchet-v1", 1)]:
        aid = store.record_answer(answer_record(adapter_version=version))
        store.record_vote(aid, "U1", value, "slack")
    store.record_answer(answer_record(adapter_version="ratchet-v1"))
    summary = store.version_summary()
    assert summary["base"]["up_rate"] == 0.5
    assert summary["ratchet-v1"] == {"answers": 3, "up": 2, "down": 0, "up_rate": 1.0}
    daily = store.vote_rate_by_version(days=1)
    assert {r["version"] for r in daily} == {"base", "ratchet-v1"} and all(r["day"] for r in daily)
    assert len(store.recent_answers(adapter_version="ratchet-v1")) == 3
    assert len(store.recent_answers(vote="none")) == 1
    assert store.labelled_count() == 4
