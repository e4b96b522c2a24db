"""R3 with small counts: `kill -9` of a real `ratchet bot` process during reactions and questions (issue 12).

Real vLLM and Weaviate (the session's), PostgreSQL as in Kubernetes; the only fake is the Slack Web API."""

from __future__ import annotations

import json

import pytest

from bot.faults.crash import run_crash
from tests.reliability.conftest import fresh_database
from tests.reliability.test_faults import KEYS

pytestmark = [pytest.mark.vllm, pytest.mark.weaviate]


async def test_r3_a_killed_bot_loses_no_acknowledged_vote_or_question(base_settings, postgres_admin_url,
                                                                      keep_line):
    line = keep_line(await run_crash(base_settings, reactions=60, questions=8,
                                     database_url=fresh_database(postgres_admin_url), timeout_s=600))
    assert KEYS <= set(line) and line["scenario"] == "R3", json.dumps(line)
    assert 0 < line["acked_before_kill"] < line["sent"], json.dumps(line)  # the kill landed mid-traffic
    assert line["votes_recorded"] == 60 and line["questions_answered"] == 8, json.dumps(line)
    assert (line["lost"], line["duplicated"]) == (0, 0), json.dumps(line)
    assert line["recover_s"] is not None
