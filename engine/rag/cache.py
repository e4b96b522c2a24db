"""Semantic answer cache in Weaviate.

A question is answered from cache when a stored question is near-identical (cosine similarity ≥
``rag.cache_similarity``) *and* was asked with exactly the same access groups, the same adapter version
and the same tenant, within ``rag.cache_ttl_s``. Ingest invalidates every entry citing a document that
changed or disappeared.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from weaviate.classes.query import Filter, MetadataQuery

from engine.logs import get_logger
from engine.metrics import RAG_CACHE_LOOKUPS
from engine.rag.embedder import Embedder
from engine.rag.types import CachedAnswer
from engine.rag.weaviate_client import WeaviateStore, delete_where
from engine.settings import Settings

log = get_logger(__name__)


def groups_key(groups: Sequence[str]) -> str:
    """The permission key: the sorted, de-duplicated groups."""
    return ",".join(sorted({g for g in groups if g}))


class AnswerCache:
    """Look up and store answers by question similarity, permissions and adapter version."""

    def __init__(self, settings: Settings, store: WeaviateStore | None = None) -> None:
        self.rag = settings.rag
        self._own_store = store is None
        self.weaviate = store or WeaviateStore(settings.rag)
        self._embedder: Embedder | None = None

    @property
    def embedder(self) -> Embedder:
        """The embedding model (loaded on first use)."""
        if self._embedder is None:
            self._embedder = Embedder(self.rag)
        return self._embedder

    def _scope(self, groups: Sequence[str], adapter: str | None, tenant: str | None) -> Filter:
        return (Filter.by_property("groups_key").equal(groups_key(groups))
                & Filter.by_property("adapter").equal(adapter or "base")
                & Filter.by_property("tenant").equal(tenant or self.rag.default_tenant)
                & Filter.by_property("created_at").greater_or_equal(time.time() - self.rag.cache_ttl_s))

    def lookup(self, question: str, *, groups: Sequence[str], adapter: str | None,
               tenant: str | None = None) -> CachedAnswer | None:
        """The cached answer for a near-identical question with the same permissions/adapter, or None."""
        if not self.rag.cache_enabled:
            return None
        result = self.weaviate.cache().query.near_vector(
            near_vector=self.embedder.embed_one(question).tolist(), limit=1,
            filters=self._scope(groups, adapter, tenant),
            return_metadata=MetadataQuery(distance=True),
        )
        hit = result.objects[0] if result.objects else None
        similarity = 1.0 - hit.metadata.distance if hit and hit.metadata.distance is not None else 0.0
        if hit is None or similarity < self.rag.cache_similarity:
            RAG_CACHE_LOOKUPS.labels(outcome="miss").inc()
            return None
        RAG_CACHE_LOOKUPS.labels(outcome="hit").inc()
        log.info("cache.hit", similarity=round(similarity, 4), adapter=adapter or "base")
        return CachedAnswer(answer=hit.properties["answer"],
                            citations=json.loads(hit.properties["citations_json"]), similarity=similarity)

    def store(self, question: str, *, groups: Sequence[str], adapter: str | None, tenant: str | None = None,
              answer: str, citations: list[dict], document_ids: list[str]) -> None:
        """Remember an answer and the documents it cites."""
        if not self.rag.cache_enabled:
            return
        self.weaviate.cache().data.insert(
            properties={
                "question": question, "answer": answer, "citations_json": json.dumps(citations, default=str),
                "document_ids": sorted(set(document_ids)), "groups_key": groups_key(groups),
                "adapter": adapter or "base", "tenant": tenant or self.rag.default_tenant,
                "created_at": time.time(),
            },
            vector=self.embedder.embed_one(question).tolist(),
        )

    def invalidate(self, document_ids: Sequence[str]) -> int:
        """Delete every cached answer citing one of ``document_ids``; returns how many."""
        if not document_ids:
            return 0
        deleted = delete_where(self.weaviate.cache(),
                               Filter.by_property("document_ids").contains_any(list(set(document_ids))))
        if deleted:
            log.info("cache.invalidated", answers=deleted, documents=len(document_ids))
        return deleted

    def close(self) -> None:
        """Close the Weaviate connection if this cache opened it."""
        if self._own_store:
            self.weaviate.close()
