"""The fault-and-attack scenarios of `ratchet bench faults` with small counts (issue 12: R1, R5, R6).

Real bots (bolt app, pipeline), real vLLM and Weaviate (the session's), a real PostgreSQL for the shared
ledger; the only fake is the Slack Web API (bot/testing/fake_slack.py).
"""

from __future__ import annotations

import json

import pytest

from bot.faults import run_admin_paths, run_hostile, run_redelivery
from tests.reliability.conftest import fresh_database

pytestmark = [pytest.mark.vllm, pytest.mark.weaviate]
KEYS = {"scenario", "sent", "answered", "lost", "duplicated", "leaked", "recover_s"}


async def test_r1_redelivered_events_over_two_replicas_are_answered_exactly_once(base_settings, postgres_admin_url,
                                                                                 keep_line):
    line = keep_line(await run_redelivery(base_settings, events=20, database_url=fresh_database(postgres_admin_url),
                                timeout_s=300))
    assert KEYS <= set(line) and line["scenario"] == "R1" and line["database"] == "postgresql"
    assert line["deliveries"] >= 2 * line["sent"]  # every event was redelivered at least once
    assert line["http_status"] == {200: line["deliveries"]}
    assert (line["answered"], line["lost"], line["duplicated"], line["leaked"]) == (20, 0, 0, 0), json.dumps(line)


async def test_r5_hostile_input_is_rejected_or_handled_and_the_bot_stays_up(base_settings, keep_line):
    line = keep_line(await run_hostile(base_settings, count=40, timeout_s=300))
    assert KEYS <= set(line) and line["scenario"] == "R5" and line["sent"] >= 40
    assert line["crashes"] == 0 and line["alive_after"], json.dumps(line)
    # forged, stale and tampered requests are refused at the door; over-large bodies too
    assert line["rejected"] >= line["by_kind"]["bad_signature"] * 4 + line["by_kind"]["oversized_body"], json.dumps(line)
    assert (line["lost"], line["duplicated"], line["leaked"]) == (0, 0, 0), json.dumps(line)
    assert line["error_replies"] == 0, json.dumps(line)  # binary and odd input: rejected or answered, no failures
    assert line["answered"] > 0


async def test_r6_non_admins_change_nothing_and_private_documents_do_not_leak(base_settings, keep_line):
    line = keep_line(await run_admin_paths(base_settings, timeout_s=300))
    assert KEYS <= set(line) and line["scenario"] == "R6"
    assert line["aliases_unchanged"], json.dumps(line)
    assert line["slack"]["refused"] == line["slack"]["sent"] and line["page"]["refused"] == line["page"]["sent"]
    assert line["slack_refusals_audited"] >= line["slack"]["sent"]
    assert line["documents"]["control_shows_secret"], "the HR member's own DM must show the document (control)"
    assert (line["lost"], line["duplicated"], line["leaked"]) == (0, 0, 0), json.dumps(line)
