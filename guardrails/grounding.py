"""Fact check: is each sentence of an answer supported by the retrieved chunks?

A sentence is supported when its embedding is close to some chunk sentence, or when most of its content
words appear in the chunks (numbers must appear verbatim). Runs offline; no LLM call (a 135M model's
yes/no on entailment is noise).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.rag.embedder import Embedder

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"[a-z0-9]+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_STOP = frozenset(
    "a an the and or but if of to in on at for with by from as is are was were be been it this that these "
    "those you your i we our they their he she his her them can may will would should could do does did "
    "not no yes have has had there here what which who how when where why also so than then just about "
    "into over under more most some any all each per".split()
)
MIN_SENTENCE_WORDS = 3


@dataclass(frozen=True)
class Support:
    """How much of an answer the chunks support."""

    ratio: float
    unsupported: list[str]
    checked: int

    @classmethod
    def of(cls, claims: list[str], unsupported: list[str]) -> "Support":
        """Support of ``claims`` given the ones found unsupported (no claims = fully supported)."""
        if not claims:
            return cls(1.0, [], 0)
        return cls(1 - len(unsupported) / len(claims), unsupported, len(claims))


def sentences(text: str) -> list[str]:
    """Split ``text`` into sentences long enough to carry a claim."""
    parts = [p.strip() for p in _SENTENCE.split(text) if p and p.strip()]
    return [p for p in parts if len(_WORD.findall(p.lower())) >= MIN_SENTENCE_WORDS]


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


def _lexically_supported(sentence: str, chunk_words: set[str], chunk_text: str) -> bool:
    numbers = _NUMBER.findall(sentence)
    if any(n not in chunk_text for n in numbers):
        return False
    words = _content_words(sentence)
    return bool(words) and len(words & chunk_words) / len(words) >= 0.6


def support(answer: str, chunk_texts: Sequence[str], embedder: Embedder, similarity: float) -> Support:
    """The share of the answer's sentences supported by ``chunk_texts``."""
    claims = sentences(answer)
    return Support.of(claims, unsupported_claims(claims, chunk_texts, embedder, similarity))


def unsupported_claims(claims: list[str], chunk_texts: Sequence[str], embedder: Embedder,
                       similarity: float) -> list[str]:
    """The ``claims`` (sentences) that ``chunk_texts`` do not support.

    Lexical support is checked first; only the remaining sentences are embedded (chunk sentence vectors
    are cached per process), so a well-grounded answer costs little or no embedding.
    """
    if not claims or not chunk_texts:
        return list(claims)
    joined = "\n".join(chunk_texts)
    chunk_words = _content_words(joined)
    unsupported = [c for c in claims if any(n not in joined for n in _NUMBER.findall(c))]
    open_claims = [c for c in claims if c not in unsupported and not _lexically_supported(c, chunk_words, joined)]
    if open_claims:
        evidence = _evidence_vectors(tuple(chunk_texts), embedder)
        sims = np.atleast_2d(embedder.embed(open_claims) @ evidence.T)
        unsupported += [c for c, row in zip(open_claims, sims) if float(np.max(row)) < similarity]
    return unsupported


_EVIDENCE_CACHE_SIZE = 512
_evidence_cache: dict[tuple[str, str], np.ndarray] = {}


def _evidence_vectors(chunk_texts: tuple[str, ...], embedder: Embedder) -> np.ndarray:
    """Sentence vectors of every chunk, stacked (per-chunk vectors cached)."""
    parts = []
    for text in chunk_texts:
        key = (embedder.path, text)
        if key not in _evidence_cache:
            if len(_evidence_cache) >= _EVIDENCE_CACHE_SIZE:
                _evidence_cache.pop(next(iter(_evidence_cache)))
            _evidence_cache[key] = embedder.embed(sentences(text) or [text])
        parts.append(_evidence_cache[key])
    return np.vstack(parts)
