"""Model seams on real models: the cross-encoder reranker path and an insert that Weaviate rejects.

No cross-encoder ships in a package here, so the cross-encoder test builds one from the local
MiniLM weights (an untrained relevance head): it proves the loading/scoring path, not its quality.
A second embedding model with another vector size makes Weaviate refuse a document's new version,
which must leave the previous version whole.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.rag import Retriever, ingest_paths
from engine.rag.embedder import default_model_path
from engine.rag.rerank import Candidate, CrossEncoderReranker, FallbackReranker, make_reranker
from engine.settings import RagSettings, Settings
from tests.rag.helpers import write


@pytest.fixture(scope="module")
def cross_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sentence_transformers import CrossEncoder

    path = tmp_path_factory.mktemp("cross-encoder")
    CrossEncoder(str(default_model_path()), num_labels=1, device="cpu").save(str(path))
    return path


def _candidates(texts: list[str]) -> list[Candidate]:
    return [Candidate({"text": t, "heading": "", "title": ""}, np.ones(3, dtype=np.float32) / 3**0.5, 0.5)
            for t in texts]


def test_cross_encoder_reranker_scores_pairs(cross_encoder_dir: Path) -> None:
    reranker = make_reranker(RagSettings(reranker_model=str(cross_encoder_dir)))
    assert isinstance(reranker, CrossEncoderReranker)
    texts = ["Vacation is 27 days per year.", "The VPN uses WireGuard.", "Lunch is at noon."]
    scores = reranker.scores("how much vacation", np.zeros(3, dtype=np.float32), _candidates(texts))
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))
    again = reranker.scores("how much vacation", np.zeros(3, dtype=np.float32), _candidates(texts))
    assert np.allclose(scores, again)
    assert len(set(np.round(scores, 6))) > 1  # depends on the text


def test_missing_cross_encoder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="reranker_model"):
        make_reranker(RagSettings(reranker_model=str(tmp_path / "none")))
    assert isinstance(make_reranker(RagSettings()), FallbackReranker)


async def test_retriever_with_cross_encoder(rag_settings: Settings, cross_encoder_dir: Path, tmp_path: Path) -> None:
    write(tmp_path / "kb", "a.md", "# Parking\n\nParking permits are renewed every January.\n")
    ingest_paths(rag_settings, [tmp_path / "kb"], show_progress=False)
    settings = rag_settings.model_copy(
        update={"rag": rag_settings.rag.model_copy(update={"reranker_model": str(cross_encoder_dir)})})
    retriever = Retriever(settings)
    try:
        result = await retriever.retrieve("When are parking permits renewed?", groups=["public"])
    finally:
        retriever.close()
    assert "Parking permits" in result.chunks[0].text and 0.0 <= result.chunks[0].score <= 1.0
    assert result.enough_evidence == (result.chunks[0].score >= settings.rag.min_score)


@pytest.fixture(scope="module")
def small_embedder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MiniLM + a dense projection to 64 dimensions: a valid model whose vectors do not fit the index."""
    from sentence_transformers import SentenceTransformer, models

    base = SentenceTransformer(str(default_model_path()), device="cpu")
    model = SentenceTransformer(modules=[base[0], base[1], models.Dense(384, 64)], device="cpu")
    path = tmp_path_factory.mktemp("embed64")
    model.save(str(path))
    return path


async def test_rejected_new_version_leaves_the_old_one_whole(rag_settings: Settings, small_embedder_dir: Path,
                                                             tmp_path: Path) -> None:
    doc = write(tmp_path / "kb", "vpn.md", "# VPN\n\n## Client\n\nUse WireGuard.\n\n## DNS\n\nFlush the DNS cache.\n")
    assert ingest_paths(rag_settings, [doc], show_progress=False).counts() == {"added": 1}
    doc.write_text("# VPN\n\n## Client\n\nUse OpenVPN now.\n\n## DNS\n\nRestart the resolver.\n")
    wrong = rag_settings.model_copy(update={"rag": rag_settings.rag.model_copy(
        update={"embedding_model": str(small_embedder_dir), "insert_batch_size": 1})})
    failed = ingest_paths(wrong, [doc], show_progress=False)
    assert failed.counts() == {"failed": 1} and "rolled back" in failed.files[0].message

    retriever = Retriever(rag_settings)
    try:
        result = await retriever.retrieve("Which VPN client should I use?", groups=["public"])
    finally:
        retriever.close()
    texts = [c.text for c in result.chunks]
    assert len(texts) == 2 and any("WireGuard" in t for t in texts)
    assert not any("OpenVPN" in t or "resolver" in t for t in texts)  # nothing of the refused version
    assert len({c.chunk_id.split(":")[1] for c in result.chunks}) == 1  # one version only
    retry = ingest_paths(rag_settings, [doc], show_progress=False)  # the right model: the update goes in
    assert retry.counts() == {"updated": 1}
