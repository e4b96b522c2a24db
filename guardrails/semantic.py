"""Embedding-similarity detector: how close a question is to known attacks versus benign questions.

Runs offline on the local sentence-transformers model (the same one retrieval uses). Reference
examples live in ``config/exemplars.yml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

from engine.rag.embedder import Embedder
from engine.settings import RagSettings
from guardrails.normalize import clean
from guardrails.patterns import GuardrailConfigError


@dataclass(frozen=True)
class SemanticScore:
    """Nearest attack / benign example similarities (cosine) and the closest attack example."""

    attack: float
    benign: float
    nearest_attack: str

    @property
    def margin(self) -> float:
        """How much closer the text is to the attacks than to the benign examples."""
        return self.attack - self.benign


class SemanticDetector:
    """Scores texts against the reference examples (vectors computed once per process)."""

    def __init__(self, rag: RagSettings, config_dir: Path) -> None:
        self.embedder = Embedder(rag)
        self.attacks, self.attack_vectors, self.benign_vectors = _reference(self.embedder, Path(config_dir))

    def score(self, text: str) -> SemanticScore:
        """Similarity of ``text`` (cleaned, first 2,000 characters) to the nearest examples."""
        vector = self.embedder.embed_one(clean(text)[:2000])
        attack_sims = self.attack_vectors @ vector
        best = int(np.argmax(attack_sims))
        return SemanticScore(float(attack_sims[best]), float(np.max(self.benign_vectors @ vector)),
                             self.attacks[best])


_reference_cache: dict[tuple[str, str], tuple[list[str], np.ndarray, np.ndarray]] = {}


def _reference(embedder: Embedder, config_dir: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    key = (embedder.path, str(config_dir))
    if key not in _reference_cache:
        attacks, benign = _examples(config_dir)
        _reference_cache[key] = (attacks, embedder.embed(attacks), embedder.embed(benign))
    return _reference_cache[key]


@lru_cache(maxsize=4)
def _examples(config_dir: Path) -> tuple[list[str], list[str]]:
    path = config_dir / "exemplars.yml"
    if not path.is_file():
        raise GuardrailConfigError(f"{path} is missing: copy guardrails/config/exemplars.yml there")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    attacks, benign = list(data.get("attacks") or []), list(data.get("benign") or [])
    if not attacks or not benign:
        raise GuardrailConfigError(f"{path} needs non-empty 'attacks' and 'benign' lists")
    return attacks, benign
