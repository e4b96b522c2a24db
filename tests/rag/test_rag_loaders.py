"""Loaders and chunking on real files (no services): structure, titles, heading paths, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.rag.chunking import chunk_sections, pack
from engine.rag.loaders import LoadError, load_file, parse_markdown
from engine.settings import RagSettings
from tests.rag.helpers import CORPUS, make_pdf, write

RAG = RagSettings()


def test_markdown_heading_paths_and_title(tmp_path: Path) -> None:
    doc = load_file(write(tmp_path, "v.md", CORPUS["handbook/vacation.md"]), RAG)
    assert doc.title == "Vacation policy"
    chunks = chunk_sections(doc.sections, 1200, 150)
    assert [c.heading for c in chunks] == ["Vacation policy > Paid leave", "Vacation policy > Requesting leave"]
    assert "27 days" in chunks[0].text and "HR portal" in chunks[1].text
    assert len(doc.content_hash) == 64


def test_markdown_ignores_headings_in_code_fences() -> None:
    title, sections = parse_markdown("# Top\n\n```\n# not a heading\n```\n\n## Sub\n\ntext\n")
    assert title == "Top"
    assert [s.heading_path for s in sections] == [["Top"], ["Top", "Sub"]]
    assert "# not a heading" in sections[0].paragraphs[0]


def test_html_sections(tmp_path: Path) -> None:
    doc = load_file(write(tmp_path, "e.html", CORPUS["finance/expenses.html"]), RAG)
    assert doc.title == "Expense reports"
    chunks = chunk_sections(doc.sections, 1200, 150)
    assert ("Expense reports > Meals", True) in [(c.heading, "45 euros" in c.text) for c in chunks]


def test_pdf_text_extracted(tmp_path: Path) -> None:
    doc = load_file(make_pdf(tmp_path / "p.pdf", ["Parking permits are renewed every January."]), RAG)
    chunks = chunk_sections(doc.sections, 1200, 150)
    assert chunks[0].heading == "Page 1" and "Parking permits" in chunks[0].text


def test_pack_respects_target_and_overlaps() -> None:
    sentences = [f"Sentence number {i} talks about topic {i % 7} in some detail." for i in range(60)]
    texts = pack([" ".join(sentences)], target=300, overlap=60)
    assert len(texts) > 5
    assert all(len(t) <= 300 + 60 + 80 for t in texts)
    for previous, current in zip(texts, texts[1:]):
        assert current.split()[0] in previous  # the next chunk starts inside the previous one's tail
    assert "Sentence number 59" in texts[-1]


@pytest.mark.parametrize("name,content,reason", [
    ("empty.md", b"", "empty file"),
    ("blank.txt", b"  \n\n ", "empty file"),
    ("junk.txt", bytes(range(256)) * 40, "binary"),
    ("latin.txt", "caf\xe9 ".encode("latin-1") * 10, "not UTF-8"),
    ("image.png", b"\x89PNG....", "unsupported file type"),
])
def test_bad_files_are_refused_with_a_reason(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(LoadError, match=reason):
        load_file(path, RAG)


def test_encrypted_pdf_refused(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "secret.pdf", ["Salaries 2026"], password="hunter2")
    with pytest.raises(LoadError, match="encrypted PDF"):
        load_file(path, RAG)


def test_oversize_file_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    with path.open("wb") as handle:
        handle.truncate(3 * 1024 * 1024)  # sparse: size without writing 3 MB
    with pytest.raises(LoadError, match="too large"):
        load_file(path, RagSettings(max_file_mb=2))
