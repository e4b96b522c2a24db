"""Two first votes on one answer at the same moment: both are kept, none raises."""

from __future__ import annotations

import threading

from fb_helpers import answer_record
from sqlalchemy import event

from engine.db import get_engine
from feedback import FeedbackStore


def _vote_at_once(store: FeedbackStore, votes: list[tuple[str, str, int]]) -> list[BaseException]:
    """Run ``record_vote`` for each (answer, user, value) in its own thread; every thread has read the
    current vote before any of them writes one (a barrier in front of the vote insert)."""
    barrier = threading.Barrier(len(votes), timeout=2)  # SQLite serialises writers: the barrier then times out

    def hold(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("INSERT INTO FEEDBACK_VOTES"):
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                pass

    errors: list[BaseException] = []

    def vote(answer_id: str, user: str, value: int) -> None:
        try:
            store.record_vote(answer_id, user, value, "slack")
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    engine = get_engine(store.settings.db_url)
    event.listen(engine, "before_cursor_execute", hold)
    try:
        threads = [threading.Thread(target=vote, args=v) for v in votes]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        event.remove(engine, "before_cursor_execute", hold)
    return errors


def test_two_simultaneous_first_votes_are_both_kept(db_settings) -> None:
    store = FeedbackStore(db_settings())
    aid = store.record_answer(answer_record())
    errors = _vote_at_once(store, [(aid, "U1", 1), (aid, "U1", -1)])  # a 👍 reaction and a 👎 click
    assert errors == []
    history = [(e.user, e.value) for e in store.vote_history(aid)]
    assert sorted(history) == [("U1", -1), ("U1", 1)], "both votes are in the history"
    assert store.votes(aid)["U1"] == history[-1][1], "the current vote is the one written last"


def test_first_votes_of_two_users_at_once(db_settings) -> None:
    store = FeedbackStore(db_settings())
    aid = store.record_answer(answer_record())
    assert _vote_at_once(store, [(aid, "U1", 1), (aid, "U2", 1)]) == []
    assert store.votes(aid) == {"U1": 1, "U2": 1}
