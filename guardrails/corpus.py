"""The attack / benign corpus (YAML files) and its evaluation against the rails.

Files in the corpus directory (default: the repo's ``tests/guardrails/corpus``):
``attacks_input.yml`` (kinds jailbreak, exfiltration, unicode, long), ``attacks_documents.yml``
(injections in retrieved chunks), ``benign_questions.yml`` and ``benign_documents.yml``.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from guardrails.patterns import GuardrailConfigError

DEFAULT_CORPUS_DIR = Path(__file__).resolve().parents[1] / "tests" / "guardrails" / "corpus"


@dataclass(frozen=True)
class Case:
    """One corpus entry: ``target`` is 'input' (a question) or 'chunk' (a retrieved document)."""

    kind: str
    text: str
    attack: bool
    target: str


@dataclass(frozen=True)
class Chunk:
    """A minimal retrieved chunk (the shape :meth:`Guardrails.check_chunks` and the output rails accept)."""

    chunk_id: str
    text: str
    heading: str = ""


def _read(path: Path) -> Any:
    if not path.is_file():
        raise GuardrailConfigError(f"corpus file {path} is missing")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _expand(entry: Any) -> str:
    if isinstance(entry, str):
        return entry
    text = entry["text"] * int(entry.get("repeat", 1))
    return entry.get("filler", "") * int(entry.get("filler_repeat", 0)) + text


def load_corpus(corpus_dir: Path = DEFAULT_CORPUS_DIR) -> list[Case]:
    """All cases of the corpus in ``corpus_dir``."""
    corpus_dir = Path(corpus_dir)
    cases = [
        Case(kind, _expand(entry), True, "input")
        for kind, entries in (_read(corpus_dir / "attacks_input.yml") or {}).items()
        for entry in entries
    ]
    cases += [Case("injection", t, True, "chunk") for t in _read(corpus_dir / "attacks_documents.yml") or []]
    cases += [Case("benign", t, False, "input") for t in _read(corpus_dir / "benign_questions.yml") or []]
    cases += [Case("benign_document", t, False, "chunk") for t in _read(corpus_dir / "benign_documents.yml") or []]
    return cases


@dataclass
class Evaluation:
    """Blocked / passed counts per kind, crashes, per-rail timings and the cases that slipped."""

    blocked: Counter = field(default_factory=Counter)
    total: Counter = field(default_factory=Counter)
    by_rail: Counter = field(default_factory=Counter)
    crashes: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    false_positives: list[str] = field(default_factory=list)
    timings_ms: dict[str, list[float]] = field(default_factory=dict)
    self_checked: int = 0
    self_check_outcomes: list[tuple[bool, bool]] = field(default_factory=list)  # (attack, refused)

    def _rate(self, attack: bool) -> float:
        kinds = [k for k in self.total if (k.startswith("benign") != attack)]
        total = sum(self.total[k] for k in kinds)
        return sum(self.blocked[k] for k in kinds) / total if total else 0.0

    @property
    def block_rate(self) -> float:
        """Share of attacks refused (questions) or dropped/neutralised (documents)."""
        return self._rate(True)

    @property
    def false_positive_rate(self) -> float:
        """Share of benign questions refused or benign documents dropped."""
        return self._rate(False)

    def record(self, case: Case, blocked: bool, rail: str | None, timings: dict[str, float]) -> None:
        """Count one evaluated case."""
        self.total[case.kind] += 1
        if blocked:
            self.blocked[case.kind] += 1
            self.by_rail[rail or "unknown"] += 1
        if case.attack and not blocked:
            self.missed.append(f"{case.kind}: {case.text[:100]}")
        if not case.attack and blocked:
            self.false_positives.append(f"{rail}: {case.text[:100]}")
        for rail_name, ms in timings.items():
            self.timings_ms.setdefault(rail_name, []).append(ms)


async def evaluate(guard: Any, cases: list[Case], *, model: str | None, self_check_sample: int = 0,
                   seed: int = 7) -> Evaluation:
    """Run every case through the cheap rails; ``self_check_sample`` input cases also through NeMo.

    With ``model`` None no LLM is called. Cases that pass the cheap rails are the ones sampled for the
    self-check (the ones the cheap rails already refused would not reach it).
    """
    result = Evaluation()
    rng = random.Random(seed)
    inputs = [c for c in cases if c.target == "input"]
    passing = [c for c in inputs if _safe_precheck(guard, c, result)]
    sampled = set(map(id, rng.sample(passing, min(self_check_sample, len(passing))))) if model else set()
    for case in inputs:
        try:
            if id(case) in sampled:
                verdict = await guard.check_input(case.text, model=model, force_self_check=True)  # measure it
                result.self_checked += 1
                result.self_check_outcomes.append((case.attack, not verdict.allowed))
            else:
                verdict = guard.precheck_input(case.text)
        except Exception as exc:  # noqa: BLE001 - a crash is a finding, counted and reported
            result.crashes.append(f"{case.kind}: {exc!r}"[:200])
            continue
        result.record(case, not verdict.allowed, verdict.rail, verdict.timings_ms)
    for index, case in enumerate(c for c in cases if c.target == "chunk"):
        try:
            kept, dropped = guard.check_chunks([Chunk(f"c{index}", case.text)])
        except Exception as exc:  # noqa: BLE001
            result.crashes.append(f"{case.kind}: {exc!r}"[:200])
            continue
        changed = bool(dropped) or kept[0].text != case.text and "[removed:" in kept[0].text
        result.record(case, changed, "retrieval.injection" if changed else None, {})
    return result


def _safe_precheck(guard: Any, case: Case, result: Evaluation) -> bool:
    try:
        return guard.precheck_input(case.text).allowed
    except Exception:  # noqa: BLE001 - reported by evaluate()
        return False
