"""Loaders and chunking on real files (no services): structure, titles, heading paths, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.rag.chunking import chunk_sections, pack
from engine.rag.loaders import LoadError, Section, load_file, parse_markdown
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


# --- HTML: main content, furniture out, code, API entries, tables, titles --------------------------------

SPHINX_PAGE = """<!DOCTYPE html><html><head><title>12. Virtual Environments — Python 3.11.2 documentation</title>
<script>var x = 1;</script></head><body>
<div class="mobile-nav"><nav class="nav-content" role="navigation"><form role="search"><input name="q"/></form></nav>
 <nav class="menu"><h3><a href="../contents.html">Table of Contents</a></h3><ul><li>12.1. Introduction</li></ul></nav></div>
<div class="related" role="navigation" aria-label="related navigation"><h3>Navigation</h3>
 <ul><li><a href="genindex.html">index</a></li><li>next |</li></ul></div>
<div class="document"><div class="documentwrapper"><div class="bodywrapper">
<div class="body" role="main">
<section id="venv"><h1>12. Virtual Environments<a class="headerlink" href="#venv" title="Permalink">¶</a></h1>
<section id="creating"><h2>12.2. Creating<a class="headerlink" href="#creating">¶</a></h2>
<p>Run the <code class="docutils literal notranslate"><span class="pre">venv</span></code> module:</p>
<div class="highlight-python3 notranslate"><div class="highlight"><pre><span></span><span class="n">python3</span> <span class="o">-</span><span class="n">m</span> <span class="n">venv</span> <span class="n">tutorial</span><span class="o">-</span><span class="n">env</span>
<span class="n">source</span> <span class="n">tutorial</span><span class="o">-</span><span class="n">env</span><span class="o">/</span><span class="nb">bin</span><span class="o">/</span><span class="n">activate</span>
</pre></div></div>
<p>This creates the <code class="docutils literal notranslate"><span class="pre">tutorial-env</span></code> directory.</p>
</section></section></div></div></div>
<div class="sphinxsidebar" role="navigation" aria-label="main navigation"><h4>Previous topic</h4>
 <p class="topless"><a href="stdlib2.html">Brief Tour</a></p><h3>This Page</h3><ul><li>Report a Bug</li></ul></div>
</div>
<div class="related" role="navigation"><h3>Navigation</h3></div>
<div class="footer">© Copyright 2001-2023, Python Software Foundation.</div>
</body></html>"""

API_PAGE = """<html><head><title>os.path — Common pathname manipulations</title></head><body>
<div class="body" role="main"><section><h1>os.path — Common pathname manipulations<a class="headerlink">¶</a></h1>
<p>This module implements some useful functions on pathnames.</p>
<dl class="py function">
<dt class="sig sig-object py" id="os.path.join"><span class="sig-prename descclassname"><span class="pre">os.path.</span></span><span class="sig-name descname"><span class="pre">join</span></span><span class="sig-paren">(</span><em class="sig-param"><span class="n"><span class="pre">path</span></span></em>, <em class="sig-param"><span class="o"><span class="pre">*</span></span><span class="n"><span class="pre">paths</span></span></em><span class="sig-paren">)</span><a class="headerlink" href="#os.path.join">¶</a></dt>
<dd><p>Join one or more path segments intelligently.</p></dd></dl>
<dl class="py class">
<dt class="sig sig-object py" id="Thing"><em class="property">class </em><span class="sig-name descname">Thing</span></dt>
<dd><p>A thing.</p>
<dl class="py method"><dt class="sig sig-object py" id="Thing.spin"><span class="sig-name descname">spin</span>()</dt>
<dd><p>Spin the thing.</p></dd></dl>
</dd></dl>
<p>Text after the entries belongs to the page again.</p>
<dl class="simple"><dt>Term</dt><dd><p>Plain definition.</p></dd></dl>
<table class="docutils"><thead><tr><th>Level</th><th>Numeric value</th></tr></thead>
<tbody><tr><td><p><code>ERROR</code></p></td><td><p>40</p></td></tr><tr><td>INFO</td><td>20</td></tr></tbody></table>
</section></div></body></html>"""


def _html(text: str):
    from engine.rag.loaders import parse_html

    title, sections = parse_html(text)
    merged: dict[str, list[str]] = {}  # a heading path resumed after an API entry continues its paragraphs
    for section in sections:
        merged.setdefault(" > ".join(section.heading_path), []).extend(section.paragraphs)
    return title, merged


def test_html_page_furniture_is_dropped_and_main_content_kept() -> None:
    title, sections = _html(SPHINX_PAGE)
    everything = " ".join(" ".join([h, *p]) for h, p in sections.items())
    for junk in ("Table of Contents", "Previous topic", "This Page", "Navigation", "Report a Bug", "index",
                 "Copyright", "var x", "¶", "Brief Tour"):
        assert junk not in everything, junk
    assert title == "12. Virtual Environments"
    assert list(sections) == ["12. Virtual Environments > 12.2. Creating"]


def test_html_code_blocks_keep_lines_and_inline_code_has_no_stray_spaces() -> None:
    _, sections = _html(SPHINX_PAGE)
    paragraphs = sections["12. Virtual Environments > 12.2. Creating"]
    assert paragraphs == [
        "Run the venv module:",
        "python3 -m venv tutorial-env\nsource tutorial-env/bin/activate",
        "This creates the tutorial-env directory.",
    ]


def test_html_api_entries_are_sections_headed_by_their_signature() -> None:
    title, sections = _html(API_PAGE)
    page = "os.path — Common pathname manipulations"
    assert title == page
    assert sections[f"{page} > os.path.join(path, *paths)"] == ["Join one or more path segments intelligently."]
    assert sections[f"{page} > class Thing"] == ["A thing."]
    assert sections[f"{page} > class Thing > spin()"] == ["Spin the thing."]
    after = sections[page]  # back on the page's own heading once the entries end
    assert after[0] == "This module implements some useful functions on pathnames."
    assert "Text after the entries belongs to the page again." in after
    assert ["Term", "Plain definition."] == after[after.index("Term"):after.index("Term") + 2]


def test_html_tables_are_read_row_by_row() -> None:
    _, sections = _html(API_PAGE)
    after = sections["os.path — Common pathname manipulations"]
    assert after[-3:] == ["Level | Numeric value", "ERROR | 40", "INFO | 20"]


def test_html_generic_main_and_title_suffix() -> None:
    page = """<html><head><title>Expense reports | ACME Intranet</title></head><body>
    <header><nav><a href="/">Home</a> <a href="/hr">HR</a></nav></header>
    <aside>Popular pages: Holidays</aside>
    <main><h2>Deadlines <a class="headerlink" href="#d">#</a></h2><p>Submit within <b>30</b> days.<br>Keep
    receipts.</p><ul><li>Meals: 45 euros</li><li>Taxis</li></ul></main>
    <footer>Contact IT</footer></body></html>"""
    title, sections = _html(page)
    assert title == "Expense reports"  # no h1: <title> without the site suffix
    assert sections == {"Deadlines": ["Submit within 30 days.\nKeep receipts.", "Meals: 45 euros", "Taxis"]}


def test_html_title_suffix_rule() -> None:
    from engine.rag.html import strip_site_suffix

    assert strip_site_suffix("Sorting HOW TO — Python 3.11.2 documentation") == "Sorting HOW TO"
    assert strip_site_suffix("argparse — Parser for command-line options — Python 3.11.2 documentation") == (
        "argparse — Parser for command-line options")
    assert strip_site_suffix("Plain title") == "Plain title"


def test_long_code_is_cut_between_lines() -> None:
    code = "\n".join(f"value_{i} = compute({i}, option={i % 3})" for i in range(80))
    chunks = chunk_sections([Section(["Code"], ["Intro sentence.", code])], target=400, overlap=0)
    lines = {line for c in chunks for line in c.text.split("\n") if line}
    assert len(chunks) > 3
    assert all(len(c.text) <= 400 for c in chunks)
    assert {f"value_{i} = compute({i}, option={i % 3})" for i in range(80)} <= lines  # no line cut or glued
