"""Reranking of hybrid-search candidates; the scores are absolute, so one threshold means "enough evidence".

Hybrid search (relative score fusion) ranks candidates only relative to each other, so its scores
cannot tell "nothing relevant" from "very relevant". The rerank stage gives each candidate an
absolute score in [0, 1]-ish:

- ``CrossEncoderReranker`` when ``rag.reranker_model`` names a local sentence-transformers
  cross-encoder directory: the model's relevance probability for (query, chunk).
- ``FallbackReranker`` otherwise (documented fallback): ``(1 - w) * cosine(query, chunk) + w * overlap``
  where cosine uses the stored chunk embedding (no extra model call), ``overlap`` is the share of the
  query's content words found in the chunk's title/heading/text, and ``w = rag.rerank_keyword_weight``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np

from engine.settings import RagSettings

_WORD = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(
    "a an and are as at be by can do does for from how i in is it its me my of on or our should so that the "
    "this to was we what when where which who why will with you your".split()
)
_lock = threading.Lock()
T = TypeVar("T")


@dataclass
class Candidate:
    """A hybrid-search hit before reranking."""

    properties: dict
    vector: np.ndarray
    hybrid_score: float


class Reranker(Protocol):
    """Scores candidates for a query (higher = more relevant, comparable across queries)."""

    def scores(self, query: str, query_vector: np.ndarray, candidates: Sequence[Candidate]) -> np.ndarray: ...


def content_words(text: str) -> set[str]:
    """Lower-cased words of 3+ characters that are not stop words."""
    return {w for w in _WORD.findall(text.lower()) if len(w) > 2 and w not in STOPWORDS}


class FallbackReranker:
    """Cosine similarity blended with query-term overlap (no model needed)."""

    def __init__(self, keyword_weight: float) -> None:
        self.keyword_weight = keyword_weight

    def scores(self, query: str, query_vector: np.ndarray, candidates: Sequence[Candidate]) -> np.ndarray:
        """Absolute relevance of each candidate."""
        if not candidates:
            return np.zeros(0, dtype=np.float32)
        cosine = np.stack([c.vector for c in candidates]) @ query_vector
        wanted = content_words(query)
        overlap = np.array([
            len(wanted & content_words(" ".join((c.properties.get("title", ""), c.properties.get("heading", ""),
                                                 c.properties.get("text", ""))))) / len(wanted) if wanted else 0.0
            for c in candidates
        ])
        return (1 - self.keyword_weight) * cosine + self.keyword_weight * overlap


@lru_cache(maxsize=2)
def _cross_encoder(path: str):
    from sentence_transformers import CrossEncoder

    if not Path(path).exists():
        raise FileNotFoundError(f"rag.reranker_model {path} does not exist (a local cross-encoder directory)")
    return CrossEncoder(path, device="cpu", local_files_only=True)


class CrossEncoderReranker:
    """A sentence-transformers cross-encoder scoring (query, chunk text) pairs."""

    def __init__(self, path: str | Path) -> None:
        self.model = _cross_encoder(str(path))

    def scores(self, query: str, query_vector: np.ndarray, candidates: Sequence[Candidate]) -> np.ndarray:
        """Relevance probabilities from the cross-encoder."""
        if not candidates:
            return np.zeros(0, dtype=np.float32)
        pairs = [(query, f"{c.properties.get('heading', '')}\n{c.properties.get('text', '')}") for c in candidates]
        with _lock:
            raw = np.asarray(self.model.predict(pairs, show_progress_bar=False), dtype=np.float32)
        if raw.ndim > 1:  # multi-label heads: take the last ("relevant") column
            raw = raw[:, -1]
        if raw.min() < 0 or raw.max() > 1:  # logits: squash to a probability
            raw = 1 / (1 + np.exp(-raw))
        return raw


def diversify(ranked: Sequence[T], document_of: Callable[[T], str], per_document: int) -> list[T]:
    """Reorder a ranking so that at most ``per_document`` items of one document come first.

    The order within each part is kept; the items over a document's cap follow, in their order. So the
    top of the list covers more sources (a page with many near-identical chunks cannot fill the whole
    top_k) without dropping anything. ``per_document`` 0 keeps the ranking as it is.
    """
    if per_document <= 0:
        return list(ranked)
    seen: dict[str, int] = {}
    first, later = [], []
    for item in ranked:
        document = document_of(item)
        seen[document] = seen.get(document, 0) + 1
        (first if seen[document] <= per_document else later).append(item)
    return first + later


def make_reranker(rag: RagSettings) -> Reranker:
    """The cross-encoder if one is configured, else the fallback."""
    if rag.reranker_model:
        return CrossEncoderReranker(rag.reranker_model)
    return FallbackReranker(rag.rerank_keyword_weight)
