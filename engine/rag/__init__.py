"""Retrieval-augmented generation on Weaviate: what the rest of Ratchet may use.

- ``ingest_paths`` — files/folders/URLs into a collection and tenant (incremental, ``--prune``).
- ``Retriever`` — hybrid search with permissions, tenants, rerank, query rewrite, evidence threshold.
- ``AnswerCache`` — semantic cache keyed by permissions and adapter version.
"""

from engine.rag.cache import AnswerCache
from engine.rag.ingest import ingest_paths
from engine.rag.retriever import Retriever
from engine.rag.types import CachedAnswer, FileOutcome, IngestSummary, Retrieval, RetrievedChunk
from engine.rag.weaviate_client import WeaviateError, WeaviateStore

__all__ = [
    "AnswerCache", "CachedAnswer", "FileOutcome", "IngestSummary", "Retrieval", "RetrievedChunk", "Retriever",
    "WeaviateError", "WeaviateStore", "ingest_paths",
]
