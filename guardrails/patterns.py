"""Pattern rails: compiled regexes from ``config/patterns.yml`` and the searches that use them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from guardrails.normalize import clean, views
from engine.errors import RatchetError

DEFAULT_CONFIG_DIR = Path(__file__).with_name("config")


class GuardrailConfigError(RatchetError, ValueError):
    """The guardrails configuration is missing or invalid; the message names the file and the fix."""


@dataclass(frozen=True)
class PatternSet:
    """Compiled pattern families."""

    jailbreak: tuple[re.Pattern[str], ...]
    injection: tuple[re.Pattern[str], ...]
    secrets: dict[str, re.Pattern[str]]
    pii: dict[str, re.Pattern[str]]


def _compile(source: str, flags: int, where: Path) -> re.Pattern[str]:
    try:
        return re.compile(source, flags)
    except re.error as exc:
        raise GuardrailConfigError(f"bad regex in {where}: {source!r}: {exc}") from exc


@lru_cache(maxsize=4)
def load_patterns(config_dir: Path = DEFAULT_CONFIG_DIR) -> PatternSet:
    """Read and compile ``patterns.yml`` from ``config_dir`` (cached)."""
    path = Path(config_dir) / "patterns.yml"
    if not path.is_file():
        raise GuardrailConfigError(f"{path} is missing: copy guardrails/config/patterns.yml there")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return PatternSet(
        jailbreak=tuple(_compile(p, re.I, path) for p in data.get("jailbreak", [])),
        injection=tuple(_compile(p, re.I, path) for p in data.get("injection", [])),
        secrets={k: _compile(v, 0, path) for k, v in (data.get("secrets") or {}).items()},
        pii={k: _compile(v, 0, path) for k, v in (data.get("pii") or {}).items()},
    )


def first_match(patterns: tuple[re.Pattern[str], ...], text: str) -> str | None:
    """The first pattern (its source) matching any normalised view of ``text``, else None."""
    for view in views(text):
        for pattern in patterns:
            if pattern.search(view):
                return pattern.pattern
    return None


def neutralise(patterns: tuple[re.Pattern[str], ...], text: str) -> str:
    """``text`` (cleaned) with every instruction-like span replaced by a marker the model sees as data."""
    out = clean(text)
    for pattern in patterns:
        out = pattern.sub("[removed: instruction to the assistant]", out)
    return out
