"""The admin page shows the retrieval models trained from votes: what serves, each version's gate verdict and its
held-out recall@5 / MRR against production, and the stored report."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from bot.admin_web.app import create_app
from engine.retrieval_registry import RetrievalRegistry
from engine.settings import Settings

TOKEN = "retrieval-admin-token-0123456789"


def test_gate_reports_of_retrieval_models_are_on_the_admin_page(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", admin={"admin_token": TOKEN})
    registry = RetrievalRegistry(settings)
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "bert"}))
    version = registry.register(model, kind="reranker", base_model="minilm", dataset_snapshot_id="rds-abc")
    registry.set_gate_report(version.id, {"passed": False, "candidate": {"recall_at_5": 0.61, "mrr": 0.42},
                                          "production": {"recall_at_5": 0.66, "mrr": 0.5},
                                          "checks": [{"name": "recall_at_5_gain", "passed": False}]})
    with TestClient(create_app(settings)) as client:
        assert client.post("/login", data={"token": TOKEN}, follow_redirects=False).status_code == 303
        page = client.get("/").text
    row = page.split(f'data-retrieval-version="{version.id}"', 1)[1].split("</tr>", 1)[0]
    assert "reranker" in row and "FAILED" in row and "0.66 → 0.61" in row and "rds-abc" in row
    assert "recall_at_5_gain" in row
    assert "embedder <b>packaged</b>" in page
