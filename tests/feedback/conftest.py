"""Fixtures of the learning-loop tests: stores on SQLite and on a real local PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fb_helpers import fresh_database, postgres_bin_dir, postgres_server

from feedback import FeedbackStore


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A PostgreSQL server for the session (skipped only when the binaries are not installed)."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL binaries not found under /usr/lib/postgresql/*/bin (install 'postgresql')")
    with postgres_server(bin_dir) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_settings(request, make_settings):
    """Settings with a fresh database: SQLite in the temp data dir, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return make_settings()
    return make_settings(database_url=fresh_database(request.getfixturevalue("postgres_admin_url")))


@pytest.fixture
def store(store_settings) -> FeedbackStore:
    return FeedbackStore(store_settings)
