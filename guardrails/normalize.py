"""Unicode normalisation so that patterns see what a reader sees.

Attackers hide trigger words with full-width letters, look-alike Cyrillic/Greek letters, zero-width and
bidi control characters, leetspeak, spacing (``i g n o r e``) or base64. :func:`views` returns the
variants of a text that the pattern rails search.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata

# Invisible characters: zero-width, joiners, bidi controls, BOM, soft hyphen, Unicode tag characters.
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\U000e0000-\U000e007f]")
_CONFUSABLES = str.maketrans({
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s",
    "ԁ": "d", "һ": "h", "ԛ": "q", "ԝ": "w", "ɡ": "g", "ո": "n", "ս": "u", "Α": "a", "Β": "b", "Ε": "e",
    "Ι": "i", "Κ": "k", "Μ": "m", "Ν": "n", "Ο": "o", "Ρ": "p", "Τ": "t", "Χ": "x", "Υ": "y", "Ζ": "z",
    "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x",
    "А": "a", "В": "b", "Е": "e", "К": "k", "М": "m", "Н": "h", "О": "o", "Р": "p", "С": "c", "Т": "t",
    "Х": "x", "І": "i", "ı": "i", "ℓ": "l",
})
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"})
_SPACED = re.compile(r"\b(?:\w[ ._\-*]){3,}\w\b")
_B64_TOKEN = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")


def clean(text: str) -> str:
    """NFKC, invisible characters removed, look-alike letters mapped to Latin, combining marks dropped."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    text = text.translate(_CONFUSABLES)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _unspace(text: str) -> str:
    return _SPACED.sub(lambda m: re.sub(r"[ ._\-*]", "", m.group(0)), text)


def _decoded_base64(text: str) -> list[str]:
    out = []
    for token in _B64_TOKEN.findall(text):
        try:
            raw = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        decoded = raw.decode("utf-8", errors="ignore")
        if decoded and sum(ch.isprintable() for ch in decoded) / len(decoded) > 0.9:
            out.append(decoded)
    return out


def views(text: str) -> list[str]:
    """The variants of ``text`` to search: cleaned, de-leeted, de-spaced, and decoded base64 payloads."""
    cleaned = clean(text)
    variants = [cleaned, cleaned.translate(_LEET), _unspace(cleaned)]
    variants += [clean(d) for d in _decoded_base64(cleaned)]
    seen: list[str] = []
    for variant in variants:
        if variant not in seen:
            seen.append(variant)
    return seen


def strip_invisible(text: str) -> str:
    """``text`` in NFC with invisible and bidi-control characters removed (what downstream should see)."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFC", text))
