"""Fixtures of the learning-loop tests: stores on SQLite and on a real local PostgreSQL."""

from __future__ import annotations

import pytest

from fb_helpers import fresh_database

from feedback import FeedbackStore


@pytest.fixture(params=["sqlite", "postgresql"])
def store_settings(request, make_settings):
    """Settings with a fresh database: SQLite in the temp data dir, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return make_settings()
    return make_settings(database_url=fresh_database(request.getfixturevalue("postgres_admin_url")))


@pytest.fixture
def store(store_settings) -> FeedbackStore:
    return FeedbackStore(store_settings)
