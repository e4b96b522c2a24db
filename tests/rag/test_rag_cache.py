"""Semantic answer cache on the real Weaviate: hits, scoping by permissions/adapter/tenant, invalidation."""

from __future__ import annotations

from pathlib import Path

from engine.rag import AnswerCache, Retriever, ingest_paths
from engine.settings import Settings
from tests.rag.helpers import write

QUESTION = "How many days of paid vacation do I get per year?"


async def test_cache_hit_scope_and_invalidation(rag_settings: Settings, tmp_path: Path) -> None:
    doc = write(tmp_path / "kb", "vacation.md", "# Vacation\n\nEvery employee gets 27 days of paid vacation.\n")
    other = write(tmp_path / "kb", "lunch.md", "# Lunch\n\nLunch is served at noon.\n")
    ingest_paths(rag_settings, [tmp_path / "kb"], show_progress=False)
    retriever = Retriever(rag_settings)
    cache = AnswerCache(rag_settings)
    try:
        retrieval = await retriever.retrieve(QUESTION, groups=["public"])
        cited = retrieval.chunks[0]
        assert "27 days" in cited.text
        assert cache.lookup(QUESTION, groups=["public"], adapter="ratchet-v1") is None
        cache.store(QUESTION, groups=["public"], adapter="ratchet-v1", answer="27 days.",
                    citations=[{"source": cited.source, "chunk_id": cited.chunk_id}],
                    document_ids=[cited.document_id])

        hit = cache.lookup("how many days of paid vacation do I get per year", groups=["public"],
                           adapter="ratchet-v1")
        assert hit is not None and hit.answer == "27 days." and hit.similarity >= 0.95
        assert hit.citations == [{"source": cited.source, "chunk_id": cited.chunk_id}]
        # different question, permissions, adapter version or tenant: no hit
        assert cache.lookup("When is lunch served?", groups=["public"], adapter="ratchet-v1") is None
        assert cache.lookup(QUESTION, groups=["public", "hr"], adapter="ratchet-v1") is None
        assert cache.lookup(QUESTION, groups=["public"], adapter="ratchet-v2") is None
        assert cache.lookup(QUESTION, groups=["public"], adapter="ratchet-v1", tenant="other") is None

        other.write_text("# Lunch\n\nLunch is served at half past twelve.\n")
        ingest_paths(rag_settings, [tmp_path / "kb"], show_progress=False)  # uncited document changed
        assert cache.lookup(QUESTION, groups=["public"], adapter="ratchet-v1") is not None

        doc.write_text("# Vacation\n\nEvery employee gets 30 days of paid vacation.\n")
        summary = ingest_paths(rag_settings, [tmp_path / "kb"], show_progress=False)
        assert summary.counts() == {"updated": 1, "unchanged": 1}
        assert cache.lookup(QUESTION, groups=["public"], adapter="ratchet-v1") is None  # cited doc changed
    finally:
        cache.close()
        retriever.close()


def test_cache_disabled_stores_nothing(rag_settings: Settings) -> None:
    settings = rag_settings.model_copy(update={"rag": rag_settings.rag.model_copy(update={"cache_enabled": False})})
    cache = AnswerCache(settings)
    try:
        cache.store(QUESTION, groups=["public"], adapter=None, answer="x", citations=[], document_ids=["d"])
        assert cache.lookup(QUESTION, groups=["public"], adapter=None) is None
    finally:
        cache.close()
    enabled = AnswerCache(rag_settings)  # same collection, cache on: the disabled store wrote nothing
    try:
        assert enabled.lookup(QUESTION, groups=["public"], adapter=None) is None
        enabled.store(QUESTION, groups=["public"], adapter=None, answer="y", citations=[], document_ids=["d"])
        assert enabled.lookup(QUESTION, groups=["public"], adapter=None).answer == "y"
    finally:
        enabled.close()
