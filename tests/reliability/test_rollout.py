"""R4 with small counts (issue 12): training killed at random points, a corrupt adapter promoted, a promotion
over two real vLLM processes where one dies half-way. Real TRL training, real vLLM servers, PostgreSQL."""

from __future__ import annotations

import json

import pytest

from bot.faults.rollout import run_rollout
from tests.reliability.conftest import fresh_database
from tests.reliability.test_faults import KEYS

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


async def test_r4_no_partial_version_consistent_replicas_and_a_fast_rollback(base_settings, postgres_admin_url,
                                                                           keep_line):
    line = keep_line(await run_rollout(base_settings, database_url=fresh_database(postgres_admin_url), kills=2))
    assert KEYS <= set(line) and line["scenario"] == "R4", json.dumps(line)
    training, replicas = line["training"], line["replicas"]
    assert training["partial_versions"] == 0 and training["final_run_registered"], json.dumps(training)
    assert replicas["corrupt_refused"], json.dumps(replicas)
    assert replicas["consistent"] and replicas["loaded_on_both_after_rollback"], json.dumps(replicas)
    assert replicas["rollback_s"] < 2.0, json.dumps(replicas)
    assert (line["lost"], line["duplicated"]) == (0, 0), json.dumps(line)
