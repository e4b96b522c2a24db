"""`ratchet ingest` and `ratchet bench rag` through the real CLI, on the real Weaviate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from engine.logs import configure_logging
from engine.settings import Settings, reset_settings_cache
from tests.rag.helpers import write


@pytest.fixture
def cli_env(rag_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Point the CLI's process settings at this test's data dir and collections."""
    rag = rag_settings.rag
    env = {"RATCHET_DATA_DIR": str(rag_settings.data_dir), "RATCHET_RAG__WEAVIATE_URL": rag.weaviate_url,
           "RATCHET_RAG__WEAVIATE_GRPC_PORT": str(rag.weaviate_grpc_port),
           "RATCHET_RAG__COLLECTION": rag.collection, "RATCHET_RAG__CACHE_COLLECTION": rag.cache_collection,
           "RATCHET_LOG_LEVEL": "WARNING"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    yield rag_settings
    reset_settings_cache()
    configure_logging()  # the CLI bound structlog to CliRunner's stderr, closed by now


def _json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_ingest_command_sample_kb_then_bad_file(cli_env: Settings, tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["ingest", "--json"])
    assert first.exit_code == 0, first.output
    [summary] = _json_lines(first.stdout)
    assert summary["collection"] == cli_env.rag.collection and summary["counts"]["added"] >= 4
    assert any(f["source"].endswith("docs/knowledge/voting.md") for f in summary["files"])

    again = _json_lines(runner.invoke(app, ["ingest", "--json"]).stdout)[0]
    assert set(again["counts"]) == {"unchanged"}

    bad = write(tmp_path, "notes.md", "")
    private = write(tmp_path, "hr.md", "# HR\n\nSecret stuff.\n")
    mixed = runner.invoke(app, ["ingest", str(bad), str(private), "--acl", "hr", "--tenant", "team-a", "--json"])
    assert mixed.exit_code == 0, mixed.output
    result = _json_lines(mixed.stdout)[0]
    assert result["tenant"] == "team-a" and result["counts"] == {"skipped": 1, "added": 1}
    assert [f["message"] for f in result["files"] if f["status"] == "skipped"] == ["empty file"]


def test_ingest_command_reports_bad_arguments(cli_env: Settings, tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["ingest", str(tmp_path / "nope.md")])
    assert missing.exit_code == 1 and "no such file" in missing.output
    bad_tenant = runner.invoke(app, ["ingest", str(tmp_path), "--tenant", "bad tenant"])
    assert bad_tenant.exit_code == 1 and "invalid tenant" in bad_tenant.output
    assert "Traceback" not in bad_tenant.output


def test_bench_rag_small(cli_env: Settings) -> None:
    result = CliRunner().invoke(app, ["bench", "rag", "--chunks", "40", "--queries", "8", "--per-doc", "10",
                                      "--embed-sample", "20"])
    assert result.exit_code == 0, result.output
    lines = _json_lines(result.stdout)
    assert len(lines) == len(result.stdout.splitlines())  # stdout is JSON lines only (progress goes to stderr)
    assert [line.get("phase") for line in lines] == ["embed_only", "filler", "ingest", "embed_only_after", "search",
                                                     None]
    final = lines[-1]
    assert final["chunks"] == 40 and final["real_chunks"] == 20 and final["filler_chunks"] == 20
    assert final["queries"] == 8 and "composed" in final["filler"]
    assert lines[1]["cosine_to_real"] > 0.5  # the filler's composed vectors resemble real embeddings
    for key in ("ingest_chunks_s", "embed_only_chunks_s", "ingest_ratio", "search_p50_ms", "search_p95_ms"):
        assert final[key] > 0
    assert final["recall_at_5"] >= 0.75
