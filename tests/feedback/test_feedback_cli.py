"""`ratchet feedback export|stats|forget` on a real store."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from bot.cli import app
from engine.settings import reset_settings_cache
from feedback import FeedbackStore
from feedback.synthetic import seed_pairs


@pytest.fixture
def cli_settings(make_settings, monkeypatch, model_dir):
    settings = make_settings(feedback={"heldout_fraction": 0.0})
    monkeypatch.setenv("RATCHET_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("RATCHET_ENGINE__MODEL_DIR", str(model_dir))
    monkeypatch.setenv("RATCHET_FEEDBACK__HELDOUT_FRACTION", "0.0")
    reset_settings_cache()
    yield settings
    reset_settings_cache()


def test_export_stats_forget(cli_settings, tmp_path) -> None:
    store = FeedbackStore(cli_settings)
    seed_pairs(store, 3)
    runner = CliRunner()
    out = tmp_path / "dpo.jsonl"
    result = runner.invoke(app, ["feedback", "export", "--format", "dpo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 3 and rows[0]["rejected"][0]["content"] == "I don't know."
    result = runner.invoke(app, ["feedback", "export", "--format", "orpo", "--out", str(out)])
    assert result.exit_code != 0 and len(out.read_text().splitlines()) == 3  # bad input loses nothing
    result = runner.invoke(app, ["feedback", "stats"])
    stats = json.loads(result.stdout.strip().splitlines()[-1])
    assert stats["labelled_answers"] == 6 and stats["dataset"]["dpo_pairs"]["train"] == 3
    result = runner.invoke(app, ["feedback", "forget", "--user", "U0", "--yes"])
    assert result.exit_code == 0 and "deleted 2 answers" in result.output
    assert store.labelled_count() == 4
