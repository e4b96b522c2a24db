"""The retrieval evaluation (`ratchet bench retrieval`) on a small real corpus, real embeddings, real Weaviate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from engine.logs import configure_logging
from engine.rag.evaluate import EvaluationError, evaluate_retrieval, rank_of, summarise
from engine.rag.weaviate_client import WeaviateStore
from engine.settings import Settings, reset_settings_cache

PAGES = {
    "guide/venv.html": ("Virtual environments", "Create a virtual environment with python3 -m venv env-dir, then "
                        "activate it with source env-dir/bin/activate."),
    "guide/json.html": ("Reading JSON", "json.loads turns a JSON document held in a string into Python dicts "
                        "and lists; json.load reads it from a file object."),
    "lib/random.html": ("random — pseudo-random numbers", "random.shuffle reorders a list in place; "
                        "random.choice picks one element of a sequence."),
}
QUESTIONS = [
    {"id": "q1", "question": "How do I create a virtual environment?", "source": "guide/venv.html", "split": "train"},
    {"id": "q2", "question": "How can I parse a JSON string into a dict?", "source": "guide/json.html",
     "split": "heldout"},
    {"id": "q3", "question": "How do I shuffle a list randomly?", "source": "lib/random.html", "split": "heldout",
     "source_heldout": True},
    {"id": "q4", "question": "When is the company picnic?", "source": None, "split": "train"},
]


def _corpus(root: Path) -> tuple[Path, Path, Path]:
    docs = root / "html"
    for page, (title, body) in PAGES.items():
        path = docs / page
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"<html><head><title>{title} — Docs</title></head><body><nav>Home | Index</nav>"
                        f"<div role='main'><h1>{title}</h1><p>{body}</p></div></body></html>", encoding="utf-8")
    manifest = root / "corpus.json"
    manifest.write_text(json.dumps({"name": "tiny", "html_dir": str(docs), "pages": list(PAGES)}), encoding="utf-8")
    questions = root / "questions.jsonl"
    questions.write_text("\n".join(json.dumps(q) for q in QUESTIONS) + "\n", encoding="utf-8")
    return docs, manifest, questions


def test_summarise_and_rank() -> None:
    assert rank_of(["a", "b", "b"], "b") == 2 and rank_of(["a"], "z") is None
    assert summarise([1, 3, None, 7]) == {"n": 4, "recall_at_1": 0.25, "recall_at_5": 0.5,
                                         "mrr": round((1 + 1 / 3 + 1 / 7) / 4, 3)}
    assert summarise([]) == {"n": 0}


def test_evaluate_retrieval_small_corpus(rag_settings: Settings, tmp_path: Path) -> None:
    docs, manifest, questions = _corpus(tmp_path)
    lines: list[dict] = []
    before = _eval_collections(rag_settings)
    result = evaluate_retrieval(rag_settings, questions_path=questions, manifest_path=manifest, details=True,
                                emit=lines.append)
    assert lines[-1] == result and len(lines) == len(QUESTIONS) + 1
    assert result["pages"] == 3 and result["chunks"] == 3
    assert result["questions"] == 3 and result["unanswerable"] == 1
    assert result["train"] == {"n": 1, "recall_at_1": 1.0, "recall_at_5": 1.0, "mrr": 1.0}
    assert result["heldout"]["n"] == 2 and result["heldout"]["recall_at_5"] == 1.0
    assert result["source_heldout"]["n"] == 1
    assert 0 < result["search_p50_ms"] <= result["search_p95_ms"]
    assert result["tuned_on"] == "train" and "in-sample" in result["note"]
    by_id = {line["id"]: line for line in lines[:-1]}
    assert by_id["q1"]["rank"] == 1 and by_id["q1"]["top"][0] == "guide/venv.html"
    assert by_id["q4"]["rank"] is None and by_id["q4"]["source"] is None
    assert _eval_collections(rag_settings) <= before  # the evaluation's own collection is gone


def _eval_collections(settings: Settings) -> set[str]:
    store = WeaviateStore(settings.rag)
    try:
        return {name for name in store.client.collections.list_all() if name.startswith("EvalRetrieval")}
    finally:
        store.close()


def test_missing_docs_are_reported(tmp_path: Path) -> None:
    _, manifest, questions = _corpus(tmp_path)
    manifest.write_text(json.dumps({"pages": ["a.html"], "html_dir": str(tmp_path / "nowhere")}), encoding="utf-8")
    with pytest.raises(EvaluationError, match="docs directory"):
        evaluate_retrieval(Settings(data_dir=tmp_path / "data"), questions_path=questions, manifest_path=manifest)


def test_bench_retrieval_command(rag_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, manifest, questions = _corpus(tmp_path)
    rag = rag_settings.rag
    for key, value in {"RATCHET_DATA_DIR": str(rag_settings.data_dir), "RATCHET_RAG__WEAVIATE_URL": rag.weaviate_url,
                       "RATCHET_RAG__WEAVIATE_GRPC_PORT": str(rag.weaviate_grpc_port),
                       "RATCHET_LOG_LEVEL": "WARNING"}.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    try:
        result = CliRunner().invoke(app, ["bench", "retrieval", "--questions", str(questions),
                                          "--manifest", str(manifest)])
    finally:
        reset_settings_cache()
        configure_logging()
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 1 and lines[0]["bench"] == "retrieval"
    assert lines[0]["heldout"]["recall_at_5"] == 1.0 and lines[0]["config"]["max_chunks_per_document"] == 2
