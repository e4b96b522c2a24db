"""Masking of secrets (API keys, passwords, tokens) and PII (emails, phones, IBANs...) in text."""

from __future__ import annotations

import re
from collections.abc import Iterable

from guardrails.normalize import clean


def _mask(pattern: re.Pattern[str], label: str, text: str) -> tuple[str, int]:
    count = 0

    def repl(match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        if "v" in pattern.groupindex and match.group("v") is not None:
            start, end = match.span("v")
            offset = match.start()
            whole = match.group(0)
            return whole[: start - offset] + f"[{label}]" + whole[end - offset:]
        return f"[{label}]"

    return pattern.sub(repl, text), count


def mask_text(text: str, patterns: dict[str, re.Pattern[str]], kinds: Iterable[str] | None,
              prefix: str) -> tuple[str, list[str]]:
    """Mask every match of ``patterns`` (only ``kinds`` if given); returns the text and kinds found.

    Masks look like ``[SECRET:aws_key]`` / ``[PII:email]``. Text is unicode-cleaned first only when a
    pattern matches nothing in the raw text but does in the cleaned one, so ordinary text is unchanged.
    """
    wanted = set(kinds) if kinds is not None else None
    found: list[str] = []
    for name, pattern in patterns.items():
        if wanted is not None and name not in wanted:
            continue
        text, count = _mask(pattern, f"{prefix}:{name}", text)
        if count == 0:
            cleaned = clean(text)
            if cleaned != text and pattern.search(cleaned):
                text, count = _mask(pattern, f"{prefix}:{name}", cleaned)
        if count:
            found.append(name)
    return text, found
