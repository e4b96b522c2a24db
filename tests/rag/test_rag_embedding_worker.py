"""The one embedding worker: concurrent requests batched, the same vectors as one at a time, a question
encoded once however many parts ask for it. Real all-MiniLM-L6-v2."""

from __future__ import annotations

import threading
import uuid

import numpy as np
import pytest

from engine.rag.embedder import WORKER, Embedder
from engine.settings import RagSettings


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    e = Embedder(RagSettings())
    e.embed(["warm up"])
    return e


def test_concurrent_requests_are_batched_and_give_the_same_vectors(embedder: Embedder) -> None:
    texts = [f"How do I reset my password, case {i}?" for i in range(8)]
    alone = np.stack([embedder.embed([t])[0] for t in texts])
    results: dict[int, np.ndarray] = {}
    long_job = threading.Thread(target=embedder.embed, args=([f"filler text number {i}" for i in range(96)],))
    long_job.start()  # keeps the worker busy while the eight requests queue up
    before = WORKER.batches
    askers = [threading.Thread(target=lambda i=i: results.__setitem__(i, embedder.embed([texts[i]])[0]))
              for i in range(8)]
    for t in askers:
        t.start()
    for t in askers + [long_job]:
        t.join()
    together = np.stack([results[i] for i in range(8)])
    assert np.allclose(together, alone, atol=1e-4)
    assert WORKER.batches - before <= 4, "eight queued requests must not take eight model calls"


def test_a_text_asked_for_again_is_not_encoded_again(embedder: Embedder) -> None:
    question = f"Where is the VPN guide? {uuid.uuid4().hex}"
    before = WORKER.texts
    first = embedder.embed_one(question)
    again = Embedder(RagSettings()).embed_one(question)  # another part (rails, retrieval, cache) asks too
    assert WORKER.texts - before == 1
    assert np.array_equal(first, again) and not again.flags.writeable
    assert np.allclose(first, embedder.embed([question])[0], atol=1e-5)
