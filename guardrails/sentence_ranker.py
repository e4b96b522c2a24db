"""Which sentences of the retrieved chunks answer a question: the ranker behind extractive answers.

When the model's own text is not supported, Ratchet quotes the documents (:func:`guardrails.grounding.extract`).
Which few sentences it quotes decides whether the quote answers the question. Each candidate sentence gets
the features in :data:`FEATURES` (similarity of the sentence and of its chunk's heading to the question,
word overlap, the chunk's rank and retrieval score, where the sentence sits, whether it holds code or an
identifier, ...) and a logistic model scores them. The model is a small artifact
(``guardrails/config/sentence_ranker.json``: feature names, standardisation, weights, and the manifest of
the data it was trained on); ``ratchet bench sentence-ranker`` trains it on the answer benchmark's *train*
questions (a sentence is positive when it states a reference fact) and reports the *held-out* questions
beside the fixed formula it replaces. Without an artifact the formula ranks.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import RatchetError

PACKAGED_PATH = Path(__file__).with_name("config") / "sentence_ranker.json"
FEATURES = (
    "sentence_similarity", "heading_similarity", "question_overlap", "heading_overlap", "chunk_rank",
    "chunk_score", "position", "first_sentence", "has_identifier", "log_words", "code_example", "api_entry",
    "negated", "table_row",
)


class SentenceRankerError(RatchetError, ValueError):
    """A sentence-ranker artifact that cannot be used."""


@dataclass(frozen=True)
class Candidate:
    """One sentence of a retrieved chunk that could be quoted."""

    chunk: int  # index of the chunk in the retrieval
    position: int  # index of the sentence in the chunk
    text: str
    following: str  # the next line of the chunk ("" at its end): what a sentence ending in ":" introduces
    relevance: float  # the fixed formula: similarity + 0.3 * question overlap - 0.02 * chunk rank
    features: np.ndarray


def formula_relevance(similarity: float, overlap: float, chunk_rank: int) -> float:
    """The fixed relevance formula: decides whether the documents answer at all, and ranks without a model."""
    return similarity + 0.3 * overlap - 0.02 * chunk_rank


def feature_row(**values: float) -> np.ndarray:
    """The feature vector in :data:`FEATURES` order (every feature must be given)."""
    missing = set(FEATURES) - set(values)
    if missing:
        raise SentenceRankerError(f"missing sentence features: {', '.join(sorted(missing))}")
    return np.array([float(values[name]) for name in FEATURES], dtype=np.float64)


def log_words(count: int) -> float:
    return math.log1p(count)


@dataclass(frozen=True)
class SentenceRanker:
    """A logistic model over standardised sentence features."""

    weights: np.ndarray
    bias: float
    mean: np.ndarray
    scale: np.ndarray
    manifest: dict[str, Any] = field(default_factory=dict)

    def score(self, rows: np.ndarray) -> np.ndarray:
        """Scores (log-odds) of feature rows (``n x len(FEATURES)``)."""
        return ((np.atleast_2d(rows) - self.mean) / self.scale) @ self.weights + self.bias

    def to_json(self) -> dict[str, Any]:
        return {"format": 1, "features": list(FEATURES), "weights": self.weights.round(6).tolist(),
                "bias": round(float(self.bias), 6), "mean": self.mean.round(6).tolist(),
                "scale": self.scale.round(6).tolist(), "manifest": self.manifest}

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path = PACKAGED_PATH) -> "SentenceRanker | None":
        """The artifact at ``path``; None when there is none (the formula ranks); an error when it is unusable."""
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != 1 or tuple(data["features"]) != FEATURES:
                raise SentenceRankerError(f"{path} was trained for other features",
                                          hint="train it again: ratchet bench sentence-ranker --write")
            return cls(weights=np.array(data["weights"], dtype=np.float64), bias=float(data["bias"]),
                       mean=np.array(data["mean"], dtype=np.float64),
                       scale=np.array(data["scale"], dtype=np.float64), manifest=dict(data.get("manifest") or {}))
        except (ValueError, KeyError, TypeError) as exc:
            raise SentenceRankerError(f"{path} is not a sentence-ranker artifact ({exc})") from None


def train_ranker(rows: np.ndarray, labels: np.ndarray, *, regularisation: float = 0.01,
                 manifest: dict[str, Any] | None = None) -> SentenceRanker:
    """Fit the logistic model (L2, strength ``1 / regularisation``) on standardised feature rows."""
    from sklearn.linear_model import LogisticRegression

    if len(set(labels.tolist())) < 2:
        raise SentenceRankerError("the training rows need both answering and other sentences")
    mean = rows.mean(axis=0)
    scale = rows.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=regularisation, max_iter=2000).fit((rows - mean) / scale, labels)
    return SentenceRanker(weights=model.coef_[0].astype(np.float64), bias=float(model.intercept_[0]),
                          mean=mean, scale=scale, manifest=dict(manifest or {}))


def order(candidates: Sequence[Candidate], ranker: SentenceRanker | None) -> list[Candidate]:
    """``candidates`` best first: by the ranker when there is one, else by the formula."""
    if not candidates:
        return []
    if ranker is None:
        scores = np.array([c.relevance for c in candidates])
    else:
        scores = ranker.score(np.vstack([c.features for c in candidates]))
    return [candidates[i] for i in np.argsort(-scores, kind="stable")]
