"""Swapping the embedding model without downtime: the corpus is re-embedded into a new collection while a client
keeps searching, an ingest during the re-embed reaches both collections, the alias switches when the copy is
complete (0 failed queries), rollback switches back, and replaced collections expire after the retention."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from helpers import CORPUS, write

from engine.rag import collections, ingest_paths
from engine.rag.embedder import default_model_path
from engine.rag.retriever import Retriever
from engine.rag.weaviate_client import WeaviateStore
from engine.retrieval_registry import RetrievalRegistry
from feedback.retrieval_bench import SearchLoad
from feedback.retrieval_gate import RetrievalQuestion

NEW_DOC = "# Parking\n\n## Bike cellar\n\nThe bike cellar code is 4711 and it opens at six in the morning.\n"


def _count(store: WeaviateStore, physical: str, tenant: str) -> int:
    handle = store.client.collections.get(physical).with_tenant(tenant)
    return handle.aggregate.over_all(total_count=True).total_count or 0


def _embedder_version(tmp_path: Path, registry: RetrievalRegistry) -> str:
    """A registered embedding model (a copy of the packaged weights: the swap is what is tested here)."""
    from sentence_transformers import SentenceTransformer

    SentenceTransformer(str(default_model_path()), device="cpu", local_files_only=True).save(str(tmp_path / "m"))
    return registry.register(tmp_path / "m", kind="embedder", base_model="packaged").id


def test_re_embed_and_switch_under_load_then_rollback_and_expire(rag_settings, tmp_path):
    settings = rag_settings.model_copy(update={"rag": rag_settings.rag.model_copy(update={
        "models_refresh_s": 0.2, "reembed_batch_size": 4, "cache_enabled": False})})
    tenant = settings.rag.default_tenant
    docs = tmp_path / "docs"
    for name, text in CORPUS.items():
        write(docs, name, text)
    store = WeaviateStore(settings.rag)
    logical = settings.rag.collection
    try:
        ingest_paths(settings, [docs], store=store, show_progress=False)
        legacy = collections.resolve(store, logical)
        registry = RetrievalRegistry(settings)
        version = _embedder_version(tmp_path, registry)
        ingested: list = []

        def ingest_once(done: int, total: int) -> None:  # an ingest while the new collection is being built
            if not ingested:
                ingested.append(ingest_paths(settings, [write(docs, "office/parking.md", NEW_DOC)], store=store,
                                             show_progress=False))

        questions = [RetrievalQuestion(q, frozenset()) for q in
                     ("How many vacation days do I get?", "How do I install the VPN?", "What is the guest wifi?")]
        with SearchLoad(settings, questions, tenant) as load:
            time.sleep(1.0)
            registry.promote(version, force=True, store=store, progress=ingest_once)
            time.sleep(1.0)
        assert ingested and ingested[0].chunks_written == 1
        assert load.failures == [] and len(load.latencies_ms) > 5
        new = collections.resolve(store, logical)
        assert new == collections.physical_name(logical, version) and new != legacy
        assert _count(store, new, tenant) == _count(store, legacy, tenant) > 0  # the ingest reached both
        retriever = Retriever(settings, store=store)
        found = asyncio.run(retriever.retrieve("What is the bike cellar code?", groups=["public"], tenant=tenant))
        assert "4711" in found.chunks[0].text
        assert retriever.live.physical(logical) == new
        assert registry.production("embedder") == version

        assert registry.rollback("embedder", store=store) is None
        assert collections.resolve(store, logical) == legacy
        states = {c.name: c.state for c in collections.physical_collections(store, logical)}
        assert states == {legacy: collections.LIVE, new: collections.PREVIOUS}
        assert collections.expire(store, logical, retention_s=3600) == []
        assert collections.expire(store, logical, retention_s=0) == [new]
        assert not store.client.collections.exists(new)
    finally:
        for c in collections.physical_collections(store, logical):
            store.drop(c.name)
        if store.client.alias.exists(alias_name=collections.alias_name(logical)):
            store.client.alias.delete(alias_name=collections.alias_name(logical))
        store.close()
