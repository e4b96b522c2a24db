"""Retrieval: (rewrite) → embed → hybrid search in the permission filter → rerank → per-document cap → evidence.

Permissions are a Weaviate filter, applied inside the search: a chunk is a candidate only if one of
its access groups is one of the asker's groups (no groups = nothing is visible). Collections are
searched in the asker's tenant only. The rerank stage (see ``engine.rag.rerank``) gives absolute
scores; when the best one is below ``rag.min_score`` the retrieval says "not enough evidence" and
still returns the closest chunks so the answer can point at them. Within the top_k, one document gives
at most ``rag.max_chunks_per_document`` chunks ahead of other documents' (``rerank.diversify``). Which collection,
embedding model and reranker serve is followed at run time (``engine.rag.live``): a promoted retrieval model
swaps in without a restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import datetime

import numpy as np
from weaviate.classes.query import Filter, HybridFusion, MetadataQuery

from engine.llm_client import LLMClient
from engine.logs import get_logger
from engine.metrics import RAG_EVIDENCE, STAGE_SECONDS
from engine.rag.embedder import Embedder
from engine.rag.live import LiveModels, Pin
from engine.rag.rerank import Candidate, Reranker, diversify
from engine.rag.rewrite import rewrite_query
from engine.rag.types import Retrieval, RetrievedChunk
from engine.rag.weaviate_client import WeaviateStore, collection_name, tenant_name
from engine.settings import Settings

log = get_logger(__name__)
SEARCHED_PROPERTIES = ["text", "title", "heading"]


def _permission_filter(groups: Sequence[str], since: datetime | None) -> Filter:
    where = Filter.by_property("groups").contains_any(list(groups))
    if since is not None:
        where = where & Filter.by_property("modified").greater_or_equal(since)
    return where


def _newest_versions(candidates: list[Candidate]) -> list[Candidate]:
    """Drop chunks of a document's older version caught mid-replacement by a concurrent ingest."""
    newest: dict[str, float] = {}
    for c in candidates:
        doc = c.properties["document_id"]
        newest[doc] = max(newest.get(doc, 0.0), c.properties.get("ingested_at") or 0.0)
    return [c for c in candidates if (c.properties.get("ingested_at") or 0.0) >= newest[c.properties["document_id"]]]


def _to_chunk(candidate: Candidate, score: float) -> RetrievedChunk:
    p = candidate.properties
    return RetrievedChunk(
        chunk_id=p["chunk_id"], document_id=p["document_id"], source=p["source"], title=p.get("title", ""),
        heading=p.get("heading", ""), text=p["text"], score=float(score), groups=list(p.get("groups") or []),
        content_hash=p.get("content_hash", ""),
    )


class Retriever:
    """Hybrid retrieval over Weaviate with permissions, tenants, reranking and query rewrite."""

    def __init__(self, settings: Settings, store: WeaviateStore | None = None, pin: Pin | None = None) -> None:
        self.settings = settings
        self.rag = settings.rag
        self._own_store = store is None
        self.store = store or WeaviateStore(settings.rag)
        self.live = LiveModels(settings, self.store, pin)
        self._known_tenants: set[tuple[str, str]] = set()

    @property
    def embedder(self) -> Embedder:
        """The embedding model of the collection serving ``rag.collection`` now."""
        return self.live.embedder(self.live.physical(self.rag.collection))

    @property
    def reranker(self) -> Reranker:
        """The reranker in production now."""
        return self.live.reranker()

    def _embed_for(self, query: str, physical: list[str]) -> dict[str, np.ndarray]:
        """The query embedded by each collection's own model (once per model)."""
        vectors: dict[int, np.ndarray] = {}
        out = {}
        for name in physical:
            embedder = self.live.embedder(name)
            if id(embedder) not in vectors:
                vectors[id(embedder)] = embedder.embed_one(query)
            out[name] = vectors[id(embedder)]
        return out

    def _tenant_exists(self, collection: str, tenant: str) -> bool:
        if (collection, tenant) not in self._known_tenants and self.store.has_tenant(collection, tenant):
            self._known_tenants.add((collection, tenant))
        return (collection, tenant) in self._known_tenants

    def search(self, query: str, vectors: dict[str, np.ndarray], *, groups: Sequence[str],
               tenant: str, since: datetime | None = None) -> list[Candidate]:
        """Hybrid (BM25 + vector) candidates from each (physical) collection the asker may search, each with the
        query embedded by its own model (blocking)."""
        if not groups:
            return []
        where = _permission_filter(groups, since)
        candidates: list[Candidate] = []
        for name, query_vector in vectors.items():
            if not self._tenant_exists(name, tenant):
                continue
            result = self.store.chunks(name, tenant, create=False).query.hybrid(
                query=query, vector=query_vector.tolist(), alpha=self.rag.alpha, limit=self.rag.candidates,
                query_properties=SEARCHED_PROPERTIES, fusion_type=HybridFusion.RELATIVE_SCORE, filters=where,
                include_vector=True, return_metadata=MetadataQuery(score=True),
            )
            for obj in result.objects:
                vector = obj.vector.get("default") if isinstance(obj.vector, dict) else obj.vector
                candidates.append(Candidate(obj.properties, np.asarray(vector, dtype=np.float32),
                                            obj.metadata.score or 0.0))
        return _newest_versions(candidates)

    async def retrieve(self, question: str, *, groups: Sequence[str], history: Sequence[dict] = (),
                       collections: Sequence[str] | None = None, tenant: str | None = None,
                       llm: LLMClient | None = None, model: str | None = None,
                       since: datetime | None = None) -> Retrieval:
        """Find the chunks that answer ``question`` for an asker in ``groups``.

        With ``llm`` + ``model`` and a non-empty ``history``, the question is first rewritten into a
        standalone query. ``since`` keeps only documents modified at or after that time.
        """
        timings: dict[str, float] = {}
        started = time.perf_counter()
        names = [collection_name(c) for c in (collections or [self.rag.collection])]
        physical = await asyncio.to_thread(lambda: list(dict.fromkeys(self.live.physical(n) for n in names)))
        tenant = tenant_name(tenant or self.rag.default_tenant)
        query = question
        if history and llm is not None and model:
            query = await self._timed("rewrite", timings, rewrite_query(question, history, llm=llm, model=model,
                                                                         rag=self.rag))
        vectors = await self._timed("embed", timings, asyncio.to_thread(self._embed_for, query, physical))
        candidates = await self._timed("search", timings, asyncio.to_thread(
            self.search, query, vectors, groups=groups, tenant=tenant, since=since))
        reranker = await asyncio.to_thread(self.live.reranker)
        scores = await self._timed("rerank", timings, asyncio.to_thread(
            reranker.scores, query, vectors[physical[0]], candidates))
        ranked = sorted(zip(candidates, scores), key=lambda pair: pair[1], reverse=True)
        ranked = diversify(ranked, lambda pair: pair[0].properties["document_id"],
                           self.rag.max_chunks_per_document)[: self.rag.top_k]
        chunks = [_to_chunk(c, s) for c, s in ranked]
        enough = bool(chunks) and chunks[0].score >= self.rag.min_score
        timings["total"] = (time.perf_counter() - started) * 1000
        RAG_EVIDENCE.labels(enough_evidence=str(enough).lower()).inc()
        log.info("retrieve.done", query=query, chunks=len(chunks), enough_evidence=enough,
                 best=round(chunks[0].score, 3) if chunks else None, total_ms=round(timings["total"], 1))
        return Retrieval(query=query, chunks=chunks, enough_evidence=enough, timings_ms=timings)

    @staticmethod
    async def _timed(stage: str, timings: dict[str, float], awaitable):
        start = time.perf_counter()
        try:
            return await awaitable
        finally:
            elapsed = time.perf_counter() - start
            timings[stage] = elapsed * 1000
            STAGE_SECONDS.labels(stage=f"rag_{stage}").observe(elapsed)

    def close(self) -> None:
        """Close the Weaviate connection if this retriever opened it."""
        if self._own_store:
            self.store.close()
