"""Re-verify the answer-quality question set against the real corpus (Python 3.11 docs from ``python3-doc``).

Checks, each failure reported on its own line:
  - the docs directory exists and every page in the manifest (``corpus.json``) is there;
  - every question has the required fields, a known ``kind`` and ``split``, and a unique ``id``;
  - answerable questions cite a page in the manifest and every evidence string occurs verbatim (after
    whitespace normalisation) in that page's visible text; unanswerable ones have no source, evidence or facts;
  - the counts per kind and split meet the minimums below, every kind appears in both splits, and the
    source-held-out questions cite pages that no train question cites.

Visible text = the Sphinx page's main body (``div[role=main]``) without scripts, styles, navigation, header,
footer, the sidebar and related bars, and the ``¶`` header links; whitespace collapsed.

The docs directory is ``$RATCHET_ANSWERS_DOCS`` if set, else the first of the Debian paths that exists.
Usage: ``python tests/answers/verify_corpus.py`` (exit status 1 and a list of failures when anything is wrong).
Importable: ``verify() -> list[str]`` (the failures), ``page_text(path)``, ``load_questions()``, ``docs_dir()``.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections import Counter
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "corpus.json"
QUESTIONS = HERE / "questions.jsonl"
DOCS_ENV = "RATCHET_ANSWERS_DOCS"
DEBIAN_DIRS = ("/usr/share/doc/python3/html", "/usr/share/doc/python3-doc/html",
               "/usr/share/doc/python3.11-doc/html", "/usr/share/doc/python3.11/html")
INSTALL_HINT = "install the docs with `apt-get install python3-doc` (or set RATCHET_ANSWERS_DOCS to the html dir)"

KINDS = ("direct", "paraphrased", "multi_part", "unanswerable")
SPLITS = ("train", "heldout")
FIELDS = ("id", "question", "kind", "source", "evidence", "reference", "facts", "split")
MIN_TOTAL = 160
MIN_KIND = {"unanswerable": 20, "paraphrased": 25, "multi_part": 15}
MIN_SPLIT = {"train": 95, "heldout": 48}
MIN_SOURCE_HELDOUT_PAGES = 3
EVIDENCE_CHARS = (20, 200)

BOILERPLATE_TAGS = ("script", "style", "nav", "header", "footer", "noscript", "form")
BOILERPLATE_CLASSES = ("related", "sphinxsidebar", "footer", "mobile-nav", "inline-search", "headerlink")
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Collapse every run of whitespace (including non-breaking spaces) to one space."""
    return _SPACE.sub(" ", text).strip()


def docs_dir() -> Path | None:
    """The html dir of the Python docs: ``$RATCHET_ANSWERS_DOCS``, else the first Debian path present."""
    configured = os.environ.get(DOCS_ENV)
    if configured:
        return Path(configured)
    return next((Path(p) for p in DEBIAN_DIRS if Path(p, "library").is_dir()), None)


def load_manifest() -> dict:
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


def load_questions(path: Path = QUESTIONS) -> list[dict]:
    """All questions, in file order (blank lines skipped)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@lru_cache(maxsize=None)
def page_text(path: Path) -> str:
    """The visible text of one Sphinx HTML page, whitespace collapsed."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(path.read_bytes(), "html.parser")
    root = soup.find(attrs={"role": "main"}) or soup.body or soup
    for tag in root.find_all(BOILERPLATE_TAGS):
        tag.decompose()
    for tag in root.find_all(class_=list(BOILERPLATE_CLASSES)):
        tag.decompose()
    return normalise(root.get_text())


def _check_fields(q: dict, where: str) -> list[str]:
    failures = [f"{where}: missing field {name!r}" for name in FIELDS if name not in q]
    if q.get("kind") not in KINDS:
        failures.append(f"{where}: kind {q.get('kind')!r} is not one of {KINDS}")
    if q.get("split") not in SPLITS:
        failures.append(f"{where}: split {q.get('split')!r} is not one of {SPLITS}")
    if not str(q.get("question", "")).strip() or not str(q.get("reference", "")).strip():
        failures.append(f"{where}: empty question or reference")
    facts = q.get("facts", [])
    if not isinstance(facts, list) or not all(
            isinstance(f, list) and f and all(isinstance(a, str) and a.strip() for a in f) for f in facts):
        failures.append(f"{where}: facts must be a list of non-empty lists of alternatives")
    return failures


def _check_answerable(q: dict, where: str, docs: Path, pages: set[str]) -> list[str]:
    source, evidence = q.get("source"), q.get("evidence") or []
    if source not in pages:
        return [f"{where}: source {source!r} is not in the manifest"]
    failures = []
    if not q.get("facts"):
        failures.append(f"{where}: an answerable question needs at least one fact")
    if not 1 <= len(evidence) <= 3:
        failures.append(f"{where}: needs 1-3 evidence strings, has {len(evidence)}")
    path = docs / source
    if not path.is_file():
        return failures + [f"{where}: page {source} missing under {docs}"]
    text = page_text(path)
    for item in evidence:
        needle = normalise(item)
        if not EVIDENCE_CHARS[0] <= len(needle) <= EVIDENCE_CHARS[1]:
            failures.append(f"{where}: evidence of {len(needle)} chars (want {EVIDENCE_CHARS}): {item!r}")
        if needle not in text:
            failures.append(f"{where}: evidence not found verbatim in {source}: {item!r}")
    return failures


def _check_unanswerable(q: dict, where: str) -> list[str]:
    failures = []
    if q.get("source") is not None:
        failures.append(f"{where}: unanswerable question must have source null")
    if q.get("evidence"):
        failures.append(f"{where}: unanswerable question must have no evidence")
    if q.get("facts"):
        failures.append(f"{where}: unanswerable question must have empty facts")
    return failures


def _check_counts(questions: list[dict]) -> list[str]:
    failures = []
    kinds = Counter(q.get("kind") for q in questions)
    splits = Counter(q.get("split") for q in questions)
    if len(questions) < MIN_TOTAL:
        failures.append(f"counts: {len(questions)} questions, want >= {MIN_TOTAL}")
    failures += [f"counts: {kinds[k]} {k}, want >= {n}" for k, n in MIN_KIND.items() if kinds[k] < n]
    failures += [f"counts: {splits[s]} {s}, want >= {n}" for s, n in MIN_SPLIT.items() if splits[s] < n]
    pairs = Counter((q.get("kind"), q.get("split")) for q in questions)
    failures += [f"counts: no {k} question in split {s}" for k in KINDS for s in SPLITS if not pairs[(k, s)]]
    return failures


def _check_source_heldout(questions: list[dict]) -> list[str]:
    train_pages = {q.get("source") for q in questions if q.get("split") == "train"}
    flagged = [q for q in questions if q.get("source_heldout")]
    failures = []
    for q in flagged:
        if q.get("split") != "heldout" or q.get("source") in train_pages or q.get("source") is None:
            failures.append(f"{q.get('id')}: source_heldout but split={q.get('split')!r} or its page "
                            f"{q.get('source')!r} has a train question")
    answerable_heldout_pages = {q.get("source") for q in questions
                                if q.get("split") == "heldout" and q.get("source")}
    unflagged = [q.get("id") for q in questions if q.get("source") in answerable_heldout_pages - train_pages
                 and not q.get("source_heldout")]
    if unflagged:
        failures.append(f"source_heldout: questions on pages without train questions lack the flag: {unflagged}")
    pages = {q.get("source") for q in flagged}
    if len(pages) < MIN_SOURCE_HELDOUT_PAGES:
        failures.append(f"source_heldout: {len(pages)} pages, want >= {MIN_SOURCE_HELDOUT_PAGES}")
    return failures


def verify(questions_path: Path = QUESTIONS) -> list[str]:
    """Every failure found in the question set (an empty list means it verifies)."""
    docs = docs_dir()
    if docs is None or not docs.is_dir():
        return [f"docs directory not found ({docs or ', '.join(DEBIAN_DIRS)}): {INSTALL_HINT}"]
    manifest = load_manifest()
    pages = set(manifest["pages"])
    failures = [f"manifest: page {p} missing under {docs}" for p in manifest["pages"] if not (docs / p).is_file()]
    questions = load_questions(questions_path)
    ids = Counter(q.get("id") for q in questions)
    failures += [f"{i}: id used {n} times" for i, n in ids.items() if n > 1]
    for number, q in enumerate(questions, 1):
        where = f"{q.get('id', f'line {number}')}"
        failures += _check_fields(q, where)
        if q.get("kind") == "unanswerable":
            failures += _check_unanswerable(q, where)
        else:
            failures += _check_answerable(q, where, docs, pages)
    return failures + _check_counts(questions) + _check_source_heldout(questions)


def summary(questions: list[dict]) -> str:
    """Counts per kind and split, and the number of pages cited, on one line."""
    pairs = Counter((q["kind"], q["split"]) for q in questions)
    parts = [f"{k}: {pairs[(k, 'train')]}+{pairs[(k, 'heldout')]}" for k in KINDS]
    cited = {q["source"] for q in questions if q.get("source")}
    held = {q["source"] for q in questions if q.get("source_heldout")}
    return (f"{len(questions)} questions (train+heldout) — " + ", ".join(parts)
            + f"; {len(cited)} pages cited, {len(held)} source-held-out")


def main() -> int:
    failures = verify()
    if failures:
        print(f"{len(failures)} failure(s):", file=sys.stderr)
        for failure in failures:
            print(f"  - {failure}", file=sys.stderr)
        return 1
    print(f"OK: {summary(load_questions())}; docs at {docs_dir()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
