"""The retrieval-model registry: versions per kind with lineage, promotion only through a passed gate (or an
audited force), rollback along the history. Rerankers swap in the database only (no Weaviate needed here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.errors import RegistryError
from engine.registry import AdapterRegistry
from engine.retrieval_registry import RetrievalRegistry, kind_of
from engine.settings import Settings


def _model_dir(root: Path, name: str) -> Path:
    path = root / name
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    return path


def test_versions_are_numbered_per_kind_and_keep_their_lineage(tmp_path):
    reg = RetrievalRegistry(Settings(data_dir=tmp_path / "data"))
    emb = reg.register(_model_dir(tmp_path, "a"), kind="embedder", base_model="minilm", dataset_snapshot_id="rds-1",
                       hyperparameters={"epochs": 1}, metrics={"train_rows": 10})
    rr = reg.register(_model_dir(tmp_path, "b"), kind="reranker", base_model="minilm")
    emb2 = reg.register(_model_dir(tmp_path, "c"), kind="embedder", base_model="minilm")
    assert (emb.id, rr.id, emb2.id) == ("emb-v1", "rr-v1", "emb-v2")
    assert Path(emb.path, "config.json").is_file() and not (tmp_path / "a").exists()
    stored = reg.get("emb-v1")
    assert (stored.dataset_snapshot_id, stored.hyperparameters, stored.metrics) == ("rds-1", {"epochs": 1},
                                                                                   {"train_rows": 10})
    assert kind_of("rr-v7") == "reranker"
    with pytest.raises(RegistryError):
        kind_of("ratchet-v1")
    with pytest.raises(RegistryError):
        reg.register(tmp_path / "missing", kind="embedder", base_model="x")


def test_a_reranker_is_promoted_only_through_its_gate_and_rolls_back(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    reg = RetrievalRegistry(settings)
    v1 = reg.register(_model_dir(tmp_path, "a"), kind="reranker", base_model="minilm")
    v2 = reg.register(_model_dir(tmp_path, "b"), kind="reranker", base_model="minilm")
    with pytest.raises(RegistryError, match="gate"):
        reg.promote(v1.id)  # never evaluated
    reg.set_gate_report(v1.id, {"passed": False})
    with pytest.raises(RegistryError, match="gate"):
        reg.promote(v1.id)
    assert reg.production("reranker") is None
    reg.set_gate_report(v2.id, {"passed": True})
    assert reg.promote(v2.id, actor="tester") is None
    assert reg.promote(v1.id, actor="tester", force=True) == v2.id  # forced: audited as such
    assert reg.production("reranker") == v1.id
    assert {v.id: v.status for v in reg.versions("reranker")} == {v1.id: "production", v2.id: "retired"}
    assert reg.rollback("reranker") == v2.id
    assert reg.rollback("reranker") is None  # back to the configured reranker
    with pytest.raises(RegistryError, match="nothing to roll back"):
        reg.rollback("reranker")
    audit = [(e.action, e.target, e.allowed, e.detail.get("forced")) for e in AdapterRegistry(settings).audit_log()]
    assert ("retrieval.reranker.promote", v1.id, 1, True) in audit
    assert ("retrieval.reranker.promote", v1.id, 0, None) in audit
