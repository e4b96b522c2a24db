"""The knowledge base for the admin page: collections, document counts, last ingest, stale documents."""

from __future__ import annotations

from bot.admin_web.availability import Unavailable
from engine.settings import Settings


def knowledge_overview(settings: Settings) -> dict | Unavailable:
    """Collections with their document counts, last ingest and stale documents."""
    return Unavailable("knowledge", "the retrieval package (engine.rag ingestion) has not landed in this build")


async def reingest(settings: Settings, collection: str, actor: str) -> str:
    """Re-ingest ``collection``; returns a one-line notice."""
    raise ValueError("re-ingest is not available: the retrieval package has not landed in this build")
