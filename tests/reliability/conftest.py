"""Fixtures of the reliability suite: the database-backed parts on SQLite and on a real local PostgreSQL.

PostgreSQL comes from Debian's packages (the test command installs them); a missing server is a failure,
never a skip. ``base_settings`` points the fault scenarios at the session's vLLM and Weaviate.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "feedback"))
from fb_helpers import fresh_database  # noqa: E402

from engine.settings import Settings  # noqa: E402


@pytest.fixture(params=["sqlite", "postgresql"])
def db_kind(request) -> str:
    return request.param


@pytest.fixture
def db_settings(db_kind, request, tmp_path):
    """Factory: Settings on a fresh database (SQLite in tmp_path, or a new PostgreSQL database)."""
    url = None
    if db_kind == "postgresql":
        url = fresh_database(request.getfixturevalue("postgres_admin_url"))

    def make(**overrides) -> Settings:
        return Settings(data_dir=overrides.pop("data_dir", tmp_path / "data"), database_url=url, **overrides)

    return make


@pytest.fixture
def base_settings(make_settings, vllm_url, weaviate_endpoint):
    """Settings on the session's vLLM and Weaviate (each scenario makes its own data dir and corpus)."""
    return make_settings(engine={"vllm_url": vllm_url, "temperature": 0.0}, rag={
        "weaviate_url": weaviate_endpoint["url"], "weaviate_host": weaviate_endpoint["host"],
        "weaviate_http_port": weaviate_endpoint["http_port"], "weaviate_grpc_port": weaviate_endpoint["grpc_port"]})


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "reliability"


@pytest.fixture
def keep_line():
    """Keep a scenario's JSON line in test-artifacts/reliability/lines.jsonl (to read after a passing run)."""
    def keep(line: dict) -> dict:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with (ARTIFACTS / "lines.jsonl").open("a") as out:
            out.write(json.dumps(line) + "\n")
        return line
    return keep
