"""HTML pages → title and sections: the main content only, headings kept, code and tables kept readable.

Generic rules (no site-specific parser):

- **Main content**: the first ``<main>``, ``[role=main]``, ``<article>``, ``div.body`` or ``div.document``
  that holds text, else ``<body>``. Inside it, page furniture is dropped: ``nav``, ``header``, ``footer``,
  ``aside``, forms, elements whose role is navigation/banner/contentinfo/search/complementary, and elements
  with a furniture class (``related``, ``sphinxsidebar``, ``sidebar``, ``headerlink``, ``breadcrumb``...).
- **Headings** ``h1``-``h6`` open a section with their heading path; ``¶`` permalinks are removed.
- **API entries**: a definition term that is an anchor target (``<dt id=...>`` or a ``sig`` class, as in
  ``dl.function``/``dl.class``) opens a section of its own whose last heading is the signature, so the
  description keeps the name it describes; nested entries (a class's methods) nest their headings.
- **Text** is read the way a browser shows it: inline pieces joined as written (no added spaces), runs
  of whitespace collapsed; ``<br>`` is a line break.
- **Code** (``<pre>``) is read verbatim, line breaks kept, syntax-highlight spans joined without spaces.
- **Tables**: one paragraph per row, cells joined with `` | ``.
- **Title**: the first ``h1`` of the main content; else ``<title>`` without its site suffix
  (the part after the last `` — ``, `` | ``...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bs4 import BeautifulSoup, Comment, NavigableString, Tag
from bs4.element import CData, Declaration, Doctype, ProcessingInstruction

_SPACE = re.compile(r"\s+")
_PILCROW = "\u00b6"
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
DROP_TAGS = ("script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "button",
             "input", "select", "textarea", "svg", "iframe", "object", "canvas", "dialog")
DROP_ROLES = {"navigation", "banner", "contentinfo", "search", "complementary"}
DROP_CLASSES = {"related", "sphinxsidebar", "sidebar", "headerlink", "breadcrumb", "breadcrumbs", "mobile-nav",
                "inline-search", "skip-link", "skip-links", "footer", "header", "navbar", "nav", "toc-drawer",
                "visually-hidden", "sr-only", "copybutton"}
MAIN_SELECTORS = ("main", "[role=main]", "article", "div.body", "div.document")
BLOCKS = {"p", "div", "section", "article", "main", "blockquote", "ul", "ol", "li", "dl", "dd", "figure",
          "figcaption", "details", "summary", "address", "center", "caption", "hr", "body", "html"}
_SUFFIX = re.compile(r"\s+(?:\u2014|\u2013|\||\u00b7|::|-)\s+[^\u2014\u2013|\u00b7]+$")
_SKIP_STRINGS = (Comment, CData, Declaration, Doctype, ProcessingInstruction)


@dataclass
class HtmlSection:
    """Paragraphs under one heading path (``engine.rag.loaders`` turns these into its ``Section``)."""

    heading_path: list[str]
    paragraphs: list[str] = field(default_factory=list)


def clean(text: str) -> str:
    """Visible text of a run of inline content: permalinks out, whitespace collapsed."""
    return _SPACE.sub(" ", text.replace(_PILCROW, "")).strip()


def strip_site_suffix(title: str) -> str:
    """``"Sorting HOW TO — Python 3.11.2 documentation"`` → ``"Sorting HOW TO"``."""
    title = clean(title)
    stripped = _SUFFIX.sub("", title)
    return stripped if stripped else title


def _is_furniture(tag: Tag) -> bool:
    if tag.name in DROP_TAGS:
        return True
    attrs = tag.attrs or {}
    if str(attrs.get("role", "")).lower() in DROP_ROLES:
        return True
    if str(attrs.get("aria-hidden", "")).lower() == "true":
        return True
    classes = attrs.get("class") or []
    return any(c.lower() in DROP_CLASSES for c in classes)


def visible_text(tag: Tag) -> str:
    """The text of ``tag`` as written (no separators added), furniture such as permalinks left out."""
    parts = []
    for child in tag.children:
        if isinstance(child, NavigableString):
            if not isinstance(child, _SKIP_STRINGS):
                parts.append(str(child))
        elif isinstance(child, Tag) and not _is_furniture(child):
            parts.append("\n" if child.name == "br" else visible_text(child))
    return "".join(parts)


def main_content(soup: BeautifulSoup) -> Tag:
    """The element holding the page's own content (see the module docstring)."""
    for selector in MAIN_SELECTORS:
        for candidate in soup.select(selector):
            if candidate.get_text(strip=True):
                return candidate
    return soup.body or soup


def _signature(dt: Tag) -> bool:
    """Whether a definition term names an API entry (an anchor target or a ``sig`` element)."""
    classes = dt.get("class") or []
    return bool(dt.get("id")) or any(c == "sig" or c.startswith("sig-") for c in classes)


@dataclass
class _Walker:
    sections: list[HtmlSection] = field(default_factory=lambda: [HtmlSection([])])
    path: list[tuple[int, str]] = field(default_factory=list)
    buffer: list[str] = field(default_factory=list)
    first_h1: str | None = None

    # --- output --------------------------------------------------------------------------------------
    def flush(self) -> None:
        lines = [clean(line) for line in "".join(self.buffer).split("\n")]
        text = "\n".join(line for line in lines if line)
        if text:
            self.sections[-1].paragraphs.append(text)
        self.buffer.clear()

    def paragraph(self, text: str) -> None:
        self.flush()
        if text.strip():
            self.sections[-1].paragraphs.append(text)

    def open_section(self, level: int, heading: str) -> None:
        self.flush()
        self.path = [(lvl, h) for lvl, h in self.path if lvl < level] + [(level, heading)]
        self.sections.append(HtmlSection([h for _, h in self.path]))

    def restore(self, path: list[tuple[int, str]]) -> None:
        """Back to an enclosing heading path (after an API entry), in a new section."""
        self.flush()
        if path != self.path:
            self.path = list(path)
            self.sections.append(HtmlSection([h for _, h in self.path]))

    # --- walking -------------------------------------------------------------------------------------
    def walk(self, node: Tag, dl_depth: int = 0) -> None:
        for child in node.children:
            if isinstance(child, NavigableString):
                if not isinstance(child, _SKIP_STRINGS):
                    self.buffer.append(str(child).replace("\n", " "))
            elif isinstance(child, Tag):
                self.element(child, dl_depth)

    def element(self, tag: Tag, dl_depth: int) -> None:
        if _is_furniture(tag):
            return
        name = tag.name
        if name in HEADINGS:
            text = clean(visible_text(tag))
            if text:
                level = int(name[1])
                if level == 1 and self.first_h1 is None:
                    self.first_h1 = text
                self.open_section(level, text)
        elif name == "pre":
            self.paragraph(visible_text(tag).strip("\n").rstrip())
        elif name == "br":
            self.buffer.append("\n")
        elif name == "table":
            self.flush()
            for row in tag.find_all("tr"):
                cells = [clean(visible_text(cell)) for cell in row.find_all(["th", "td"], recursive=False)]
                if any(cells):
                    self.paragraph(" | ".join(cells))
        elif name == "dl":
            self.definition_list(tag, dl_depth)
        elif name in BLOCKS or name in ("dt", "tr", "td", "th"):
            self.flush()
            self.walk(tag, dl_depth)
            self.flush()
        else:  # inline: its text joins the running paragraph as written
            self.walk(tag, dl_depth)

    def definition_list(self, dl: Tag, dl_depth: int) -> None:
        self.flush()
        outer = list(self.path)
        terms: list[str] = []
        entered = False
        for child in dl.children:
            if not isinstance(child, Tag) or _is_furniture(child):
                continue
            if child.name == "dt" and _signature(child):
                terms.append(clean(visible_text(child)))
            elif child.name == "dt":
                self.flush()
                self.walk(child, dl_depth)
                self.flush()
            elif child.name == "dd":
                if terms:
                    self.path = list(outer)
                    self.open_section(100 + dl_depth, " / ".join(t for t in terms if t))
                    terms, entered = [], True
                self.flush()
                self.walk(child, dl_depth + 1)
                self.flush()
            else:
                self.element(child, dl_depth)
        if terms:  # a signature without a description still names something
            self.paragraph(" / ".join(terms))
        if entered:
            self.restore(outer)


def parse_page(text: str) -> tuple[str | None, list[HtmlSection]]:
    """Parse an HTML page into (title, sections) following the rules of the module docstring."""
    soup = BeautifulSoup(text, "html.parser")
    raw_title = soup.title.get_text("") if soup.title else ""
    root = main_content(soup)
    walker = _Walker()
    walker.walk(root)
    walker.flush()
    title = walker.first_h1 or (strip_site_suffix(raw_title) if clean(raw_title) else None)
    return title, [s for s in walker.sections if s.paragraphs]
