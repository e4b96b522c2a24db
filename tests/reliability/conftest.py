"""Fixtures of the reliability suite: the database-backed parts on SQLite and on a real local PostgreSQL.

PostgreSQL comes from Debian's packages (the test command installs them); a missing server is a failure,
never a skip. Nothing here needs the model, vLLM or Weaviate.
"""

from __future__ import annotations

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
