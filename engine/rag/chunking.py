"""Structure-aware chunking: sections never mix; paragraphs are packed up to a target size with overlap.

Every chunk keeps its heading path joined with `` > `` (e.g. ``Networking > DNS``) for citations. A
paragraph longer than the target is cut on sentence (then word) boundaries. Consecutive chunks of the
same section share ``overlap`` characters (the tail of the previous chunk, cut at a word boundary).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.rag.loaders import Section

HEADING_SEPARATOR = " > "
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass
class Chunk:
    """A piece of a document, ready to embed."""

    position: int
    heading: str
    text: str


def _split_lines(paragraph: str, target: int) -> list[str]:
    """Cut a multi-line paragraph (code, table rows) longer than ``target`` between lines."""
    pieces, current = [], ""
    for line in paragraph.split("\n"):
        if current and len(current) + len(line) + 1 > target:
            pieces.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        pieces.append(current)
    return [p for piece in pieces for p in (_split_long(piece, target) if len(piece) > target else [piece])]


def _split_long(paragraph: str, target: int) -> list[str]:
    """Cut a paragraph longer than ``target`` between lines if it has several, else on sentence
    boundaries, then on words."""
    if len(paragraph) <= target:
        return [paragraph]
    if "\n" in paragraph.strip():
        return _split_lines(paragraph.strip(), target)
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(paragraph):
        while len(sentence) > target:
            cut = sentence.rfind(" ", 0, target)
            cut = cut if cut > target // 2 else target
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if sentence:
            pieces.append(sentence)
    return pieces


def _tail(text: str, overlap: int) -> str:
    if overlap <= 0 or len(text) <= overlap:
        return ""
    start = text.find(" ", len(text) - overlap)
    return text[start + 1:] if start != -1 else ""


def pack(paragraphs: list[str], target: int, overlap: int) -> list[str]:
    """Pack paragraphs into texts of about ``target`` characters, consecutive ones overlapping."""
    texts: list[str] = []
    current = ""
    for piece in (p for para in paragraphs for p in _split_long(para, target)):
        if current and len(current) + len(piece) + 2 > target:
            texts.append(current)
            tail = _tail(current, overlap)
            joiner = "\n" if "\n" in piece else " "  # code keeps its lines
            current = f"{tail}{joiner}{piece}" if tail else piece
        else:
            current = f"{current}\n\n{piece}" if current else piece
    if current:
        texts.append(current)
    return texts


def chunk_sections(sections: list[Section], target: int, overlap: int) -> list[Chunk]:
    """All chunks of a document, in reading order."""
    chunks: list[Chunk] = []
    for section in sections:
        heading = HEADING_SEPARATOR.join(section.heading_path)
        for text in pack(section.paragraphs, target, overlap):
            chunks.append(Chunk(position=len(chunks), heading=heading, text=text))
    return chunks
