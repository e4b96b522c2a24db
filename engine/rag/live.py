"""Which collection, embedding model and reranker a retriever uses now — followed without a restart.

Every ``rag.models_refresh_s`` a retriever re-reads the live alias of each knowledge collection (Weaviate) and
the reranker in production (the retrieval registry). A collection's embedding model is written on the
collection itself (``engine.rag.collections``), so the query is always embedded by the model that embedded
the chunks it is compared with — during and after a switch. Models are loaded once and kept in memory, so a
promoted reranker or embedder swaps in without a failed query.

``pinned`` evaluation (the gate) fixes the collection and the reranker instead of following production.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from engine.logs import get_logger
from engine.rag import collections
from engine.rag.embedder import Embedder
from engine.rag.rerank import Reranker
from engine.rag.weaviate_client import WeaviateStore, collection_name
from engine.settings import Settings

log = get_logger(__name__)
PRODUCTION = "production"


@dataclass(frozen=True)
class Pin:
    """Fixed models for an evaluation: ``collection`` a physical collection (None = follow the alias), ``reranker``
    a reranker version, ``None`` for the configured one, or ``"production"`` to follow the registry."""

    collection: str | None = None
    reranker: str | None = PRODUCTION


class LiveModels:
    """The serving collection per knowledge collection, its embedder, and the reranker, refreshed periodically."""

    def __init__(self, settings: Settings, store: WeaviateStore, pin: Pin | None = None) -> None:
        self.settings = settings
        self.store = store
        self.pin = pin or Pin()
        self._lock = threading.Lock()
        self._physical: dict[str, tuple[float, str]] = {}
        self._embedder_of: dict[str, str | None] = {}  # physical collection -> embedder version (immutable)
        self._embedders: dict[str | None, Embedder] = {}
        self._reranker: tuple[float, str | None, Reranker] | None = None
        self._registry = None

    def _fresh(self, at: float) -> bool:
        return time.monotonic() - at < self.settings.rag.models_refresh_s

    def registry(self):
        """The retrieval registry (opened on first use)."""
        if self._registry is None:
            from engine.retrieval_registry import RetrievalRegistry

            self._registry = RetrievalRegistry(self.settings)
        return self._registry

    def physical(self, logical: str) -> str:
        """The collection serving ``logical`` now (or the pinned one)."""
        if self.pin.collection is not None:
            return self.pin.collection
        name = collection_name(logical)
        with self._lock:
            cached = self._physical.get(name)
        if cached is not None and self._fresh(cached[0]):
            return cached[1]
        physical = collections.resolve(self.store, name)
        with self._lock:
            if cached is not None and cached[1] != physical:
                log.info("retrieval.collection_followed", logical=name, to=physical, previous=cached[1])
            self._physical[name] = (time.monotonic(), physical)
        return physical

    def embedder(self, physical: str) -> Embedder:
        """The embedding model that embedded ``physical``'s chunks."""
        if physical not in self._embedder_of:
            exists = self.store.client.collections.exists(physical)
            self._embedder_of[physical] = collections.describe(self.store, physical).embedder if exists else None
        return self.embedder_version(self._embedder_of[physical])

    def embedder_version(self, version: str | None) -> Embedder:
        """The embedding model of a version (None = packaged), loaded once."""
        with self._lock:
            loaded = self._embedders.get(version)
        if loaded is None:
            from engine.retrieval_registry import load_embedder

            loaded = load_embedder(self.settings, self.registry().get_or_none(version))
            with self._lock:
                self._embedders[version] = loaded
        return loaded

    def reranker(self) -> Reranker:
        """The reranker in production (or the pinned one), loaded once per version."""
        cached = self._reranker
        if cached is not None and (self.pin.reranker != PRODUCTION or self._fresh(cached[0])):
            return cached[2]
        version = self.pin.reranker if self.pin.reranker != PRODUCTION else self.registry().production("reranker")
        if cached is not None and cached[1] == version:
            reranker = cached[2]
        else:
            from engine.retrieval_registry import load_reranker

            reranker = load_reranker(self.settings, self.registry().get_or_none(version))
            if cached is not None:
                log.info("retrieval.reranker_swapped", to=version, previous=cached[1])
        self._reranker = (time.monotonic(), version, reranker)
        return reranker
