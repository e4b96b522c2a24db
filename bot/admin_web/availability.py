"""Honest "not available" for admin page sections whose backing package or tables have not landed."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import inspect

from engine.db import get_engine, session_factory
from engine.settings import Settings


@dataclass(frozen=True)
class Unavailable:
    """Why a section cannot be shown (rendered instead of made-up data)."""

    section: str
    reason: str


def missing_tables(settings: Settings, *tables: str) -> list[str]:
    """Those of ``tables`` not present in the (migrated) database."""
    session_factory(settings.db_url)  # runs every package's migrations once
    present = set(inspect(get_engine(settings.db_url)).get_table_names())
    return [t for t in tables if t not in present]
