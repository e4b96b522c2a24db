"""The event ledger that bot replicas share, on SQLite and PostgreSQL: one claim wins, a dead owner's claim is
taken over, an orphan is replayed by exactly one survivor, a finished event is never handled again."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from bot.slack.dedupe import MAX_ATTEMPTS, EventLedger

TAKEOVER_S = 0.5


def test_event_ledger_claims_once_and_takes_over_a_dead_process(db_settings) -> None:
    url = db_settings().db_url
    first = EventLedger(url, takeover_s=60, owner="p1")
    assert first.claim("Ev1", "app_mention") and not first.claim("Ev1", "app_mention")
    restarted = EventLedger(url, takeover_s=0.0, owner="p2")
    assert restarted.claim("Ev1", "app_mention")  # p1 died mid-answer: the retry is handled
    restarted.finish("Ev1")
    assert not EventLedger(url, takeover_s=0.0, owner="p3").claim("Ev1", "app_mention")
    assert restarted.status("Ev1") == "done"


def test_racing_replicas_claim_an_event_exactly_once(db_settings) -> None:
    url = db_settings().db_url
    ledgers = [EventLedger(url, takeover_s=60, owner=f"replica-{i}") for i in range(6)]
    for n in range(5):
        with ThreadPoolExecutor(len(ledgers)) as pool:
            wins = list(pool.map(lambda ledger: ledger.claim(f"EvRace{n}", "app_mention", {"n": n}), ledgers))
        assert wins.count(True) == 1, wins


def test_an_orphan_is_replayed_by_one_survivor_with_its_body_and_given_up_after_max_attempts(db_settings) -> None:
    url = db_settings().db_url
    body = {"type": "event_callback", "event_id": "EvOrphan", "event": {"type": "app_mention", "text": "hi"}}
    assert EventLedger(url, takeover_s=60, owner="dead").claim("EvOrphan", "app_mention", body)
    survivors = [EventLedger(url, takeover_s=TAKEOVER_S, owner=f"survivor-{i}") for i in range(3)]
    time.sleep(TAKEOVER_S * 1.5)
    with ThreadPoolExecutor(len(survivors)) as pool:
        taken = [o for found in pool.map(lambda ledger: ledger.orphans(), survivors) for o in found]
    assert taken == [("EvOrphan", body)]
    for attempt in range(MAX_ATTEMPTS):  # each survivor dies in turn; after MAX_ATTEMPTS it is not replayed
        time.sleep(TAKEOVER_S * 1.5)
        EventLedger(url, takeover_s=TAKEOVER_S, owner=f"next-{attempt}").orphans()
    assert EventLedger(url, takeover_s=TAKEOVER_S, owner="last").orphans() == []
    assert EventLedger(url, takeover_s=TAKEOVER_S, owner="last").status("EvOrphan") == "in_flight"
