"""Read a file or URL into a ``LoadedDocument``: title, source, modified time, content hash, sections.

Markdown, HTML, plain text and PDF (pypdf). A section is a heading path plus its paragraphs; the
chunker packs them. Anything that cannot be read as a document raises ``LoadError`` with a message
meant for the ingest summary (empty, binary, encrypted, too large, unsupported...).
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx

from engine.errors import RatchetError
from engine.settings import RagSettings

MARKDOWN = {".md", ".markdown", ".mdx"}
HTML = {".html", ".htm"}
TEXT = {".txt", ".text", ".rst", ".log", ""}
PDF = {".pdf"}
SUPPORTED = MARKDOWN | HTML | TEXT | PDF
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


class LoadError(RatchetError, ValueError):
    """This file cannot be ingested; the message says why."""


@dataclass
class Section:
    """A run of paragraphs under one heading path (e.g. ``["Networking", "DNS"]``)."""

    heading_path: list[str]
    paragraphs: list[str] = field(default_factory=list)


@dataclass
class LoadedDocument:
    """One source file or page, parsed."""

    source: str
    title: str
    modified: datetime
    content_hash: str
    sections: list[Section]


def is_url(value: str) -> bool:
    """Whether an ingest argument is an http(s) URL rather than a path."""
    return value.startswith(("http://", "https://"))


def _decode(data: bytes, source: str) -> str:
    if b"\x00" in data[:8192]:
        raise LoadError("binary content (NUL bytes), not a text document")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    control = sum(1 for ch in text[:8192] if ord(ch) < 32 and ch not in "\n\r\t\f")
    if control > max(8, len(text[:8192]) // 100):
        raise LoadError("binary content (control characters), not a text document")
    return text


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def parse_markdown(text: str) -> tuple[str | None, list[Section]]:
    """Split Markdown on ATX headings (ignoring fenced code); returns (first H1, sections)."""
    sections = [Section([])]
    path: list[tuple[int, str]] = []
    title, buffer, fenced = None, [], False

    def flush() -> None:
        sections[-1].paragraphs.extend(_paragraphs("\n".join(buffer)))
        buffer.clear()

    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        match = None if fenced else _HEADING.match(line)
        if not match:
            buffer.append(line)
            continue
        flush()
        level, heading = len(match.group(1)), match.group(2).strip()
        if level == 1 and title is None:
            title = heading
        path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, heading)]
        sections.append(Section([h for _, h in path]))
    flush()
    return title, [s for s in sections if s.paragraphs]


def parse_html(text: str) -> tuple[str | None, list[Section]]:
    """Main content of an HTML page as (title, sections); the rules are in ``engine.rag.html``."""
    from engine.rag.html import parse_page

    title, parts = parse_page(text)
    return title, [Section(part.heading_path, part.paragraphs) for part in parts]


def parse_pdf(data: bytes) -> tuple[str | None, list[Section]]:
    """Extract text page by page (heading path ``Page N``); refuses encrypted PDFs."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError("encrypted PDF (needs a password); decrypt it first")
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = reader.metadata.title if reader.metadata else None
    except LoadError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise LoadError(f"unreadable PDF: {exc}") from None
    sections = [Section([f"Page {n}"], _paragraphs(text)) for n, text in enumerate(pages, 1)]
    return meta_title, [s for s in sections if s.paragraphs]


def parse(data: bytes, kind: str, source: str) -> tuple[str | None, list[Section]]:
    """Parse raw bytes of a given kind (a file suffix) into (title, sections)."""
    if kind in PDF:
        return parse_pdf(data)
    text = _decode(data, source)
    if kind in MARKDOWN:
        return parse_markdown(text)
    if kind in HTML:
        return parse_html(text)
    return None, [Section([], _paragraphs(text))]


def _document(data: bytes, kind: str, source: str, stem: str, modified: datetime,
              rag: RagSettings) -> LoadedDocument:
    if not data.strip():
        raise LoadError("empty file")
    if len(data) > rag.max_file_mb * 1024 * 1024:
        raise LoadError(f"too large ({len(data) / 1048576:.1f} MB > rag.max_file_mb={rag.max_file_mb:g})")
    title, sections = parse(data, kind, source)
    if not sections:
        raise LoadError("no text found")
    return LoadedDocument(source=source, title=title or stem, modified=modified,
                          content_hash=hashlib.sha256(data).hexdigest(), sections=sections)


def load_file(path: Path, rag: RagSettings) -> LoadedDocument:
    """Read and parse one local file."""
    kind = path.suffix.lower()
    if kind not in SUPPORTED:
        raise LoadError(f"unsupported file type {kind!r} (Markdown, HTML, text or PDF)")
    try:
        size = path.stat().st_size
        if size > rag.max_file_mb * 1024 * 1024:  # refuse before reading it into memory
            raise LoadError(f"too large ({size / 1048576:.1f} MB > rag.max_file_mb={rag.max_file_mb:g})")
        data = path.read_bytes()
        modified = datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)
    except OSError as exc:
        raise LoadError(f"unreadable: {exc.strerror or exc}") from None
    return _document(data, kind, str(path.resolve()), path.stem, modified, rag)


def _url_kind(url: str, content_type: str) -> str:
    if "pdf" in content_type:
        return ".pdf"
    if "html" in content_type:
        return ".html"
    if "markdown" in content_type:
        return ".md"
    suffix = Path(httpx.URL(url).path).suffix.lower()
    return suffix if suffix in SUPPORTED else ".txt"


def load_url(url: str, rag: RagSettings) -> LoadedDocument:
    """Fetch and parse one http(s) page or file."""
    try:
        response = httpx.get(url, timeout=rag.fetch_timeout_s, follow_redirects=True)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise LoadError(f"cannot fetch: {exc}") from None
    header = response.headers.get("last-modified")
    modified = parsedate_to_datetime(header) if header else datetime.now(timezone.utc)
    kind = _url_kind(url, response.headers.get("content-type", ""))
    stem = Path(httpx.URL(url).path).stem or httpx.URL(url).host
    return _document(response.content, kind, url, stem, modified, rag)
