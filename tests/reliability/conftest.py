"""Fixtures of the reliability suite: the database-backed parts on SQLite and on a real local PostgreSQL.

PostgreSQL comes from Debian's packages (the test command installs them); a missing server is a failure,
never a skip. Nothing here needs the model, vLLM or Weaviate.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "feedback"))
from fb_helpers import fresh_database, postgres_bin_dir, postgres_server  # noqa: E402

from engine.settings import Settings  # noqa: E402


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A PostgreSQL server for the session, on a free loopback port."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        pytest.fail("PostgreSQL binaries not found under /usr/lib/postgresql/*/bin: install the 'postgresql' "
                    "package (deploy/local/install_test_tools.sh)")
    with postgres_server(bin_dir) as url:
        yield url


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
