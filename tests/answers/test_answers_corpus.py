"""The answer-quality question set verifies against the real Python docs (python3-doc); the verifier catches errors.

Fast (no services): parses ~60 HTML pages. Fails, not skips, when the docs are not installed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.answers.verify_corpus import INSTALL_HINT, docs_dir, load_questions, page_text, verify


@pytest.fixture(scope="module")
def docs() -> Path:
    found = docs_dir()
    if found is None or not found.is_dir():
        pytest.fail(f"Python docs not found: {INSTALL_HINT}")
    return found


def test_question_set_verifies_against_the_docs(docs: Path) -> None:
    failures = verify()
    assert failures == [], "\n".join(failures)


def test_visible_text_drops_sphinx_boilerplate(docs: Path) -> None:
    text = page_text(docs / "library" / "json.html")
    assert text.startswith("json — JSON encoder and decoder")
    assert "Table of Contents" not in text and "Navigation" not in text and "¶" not in text
    assert "If ensure_ascii is true (the default)" in text


def test_verifier_reports_a_tampered_question_set(docs: Path, tmp_path: Path) -> None:
    questions = load_questions()
    answerable = next(q for q in questions if q["kind"] == "direct")
    unanswerable = next(q for q in questions if q["kind"] == "unanswerable")
    answerable["evidence"] = ["this sentence is certainly not in the Python documentation"]
    unanswerable["facts"] = [["something"]]
    questions.append(dict(questions[0]))  # duplicate id
    bad = tmp_path / "questions.jsonl"
    bad.write_text("".join(json.dumps(q) + "\n" for q in questions), encoding="utf-8")
    failures = verify(bad)
    assert any(answerable["id"] in f and "not found verbatim" in f for f in failures)
    assert any(unanswerable["id"] in f and "empty facts" in f for f in failures)
    assert any(questions[0]["id"] in f and "used 2 times" in f for f in failures)
