"""R2 with small counts (issue 12): vLLM (and with it the guardrails' model), Weaviate and PostgreSQL killed
mid-traffic; `ratchet up --supervise` restarts the services, the bot is never restarted."""

from __future__ import annotations

import json

import pytest

from bot.faults.outage import run_outage
from tests.reliability.test_faults import KEYS

pytestmark = [pytest.mark.vllm, pytest.mark.weaviate]


@pytest.mark.xfail(strict=False, reason=(
    "known defect, not fixed yet: with PostgreSQL killed, 2 of 4 open questions got their message after 7.8 s "
    "(limit 5 s) on this 2-core machine under load; nothing lost or duplicated"))
async def test_r2_killed_services_give_clear_messages_and_traffic_recovers(make_settings, keep_line):
    line = keep_line(await run_outage(make_settings(engine={"temperature": 0.0}), open_questions=2))
    assert KEYS <= set(line) and line["scenario"] == "R2", json.dumps(line)
    assert line["late"] == 0, json.dumps(line)  # every open question: a clear message within 5 s
    assert all(s["recover_s"] is not None for s in line["services"].values()), json.dumps(line)
    assert (line["lost"], line["duplicated"]) == (0, 0), json.dumps(line)
