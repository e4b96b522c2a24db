"""The learned input detector: a calibrated logistic head over the MiniLM embedding of a question.

The head is a versioned artifact — one directory holding ``detector.json`` (weights, bias, Platt
calibration, thresholds, the embedding model it was trained with), ``manifest.json`` (its training data)
and ``metrics.json`` (what it scored, in-sample and on held-out sources). It is trained by
:mod:`guardrails.detector_train` in seconds once the texts are embedded.

Which artifact is in force, first found wins:

1. ``guardrails.detector_dir`` (a version directory, or a directory with a ``current`` pointer file);
2. ``<data_dir>/guardrails/detector/current`` — the version promoted by retraining;
3. the packaged baseline ``guardrails/config/detector``.

Probability: ``p = sigmoid(a * (w·x + b) + c)`` with ``x`` the normalised embedding of the cleaned text
(first 2,000 characters). A question is refused at ``p >= threshold``; ``p >= suspicion`` corroborates a
model self-check "block".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from guardrails.normalize import clean
from guardrails.patterns import GuardrailConfigError

ARTIFACT_FORMAT = 1
PACKAGED_DIR = Path(__file__).with_name("config") / "detector"
MAX_EMBED_CHARS = 2000


def detector_text(text: str) -> str:
    """What the detector embeds: the cleaned text, first 2,000 characters (training uses the same)."""
    return clean(text)[:MAX_EMBED_CHARS]


@dataclass(frozen=True)
class DetectorScore:
    """The attack probability of one text and the thresholds of the artifact that scored it."""

    probability: float
    threshold: float
    suspicion: float
    version: str

    @property
    def blocks(self) -> bool:
        """Whether the text is refused."""
        return self.probability >= self.threshold

    @property
    def suspicious(self) -> bool:
        """Whether the text is close enough to attacks to corroborate a self-check 'block'."""
        return self.probability >= self.suspicion


@dataclass(frozen=True)
class DetectorArtifact:
    """A trained head (see the module docstring for the formula)."""

    version: str
    weights: np.ndarray
    bias: float
    calibration: tuple[float, float]
    threshold: float
    suspicion: float
    embedding_model: str
    path: Path

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """Attack probability per row of ``vectors`` (normalised embeddings)."""
        a, c = self.calibration
        logits = a * (np.asarray(vectors, dtype=np.float64) @ self.weights + self.bias) + c
        return 1.0 / (1.0 + np.exp(-logits))

    def score(self, vector: np.ndarray, threshold: float | None = None,
              suspicion: float | None = None) -> DetectorScore:
        """The score of one embedding (``threshold`` and ``suspicion`` override the artifact's)."""
        probability = float(self.probabilities(vector[None, :])[0])
        return DetectorScore(probability, self.threshold if threshold is None else threshold,
                             self.suspicion if suspicion is None else suspicion, self.version)


def resolve_artifact_dir(configured: Path | None, data_dir: Path) -> Path:
    """The version directory in force (see the module docstring)."""
    for base in ([Path(configured)] if configured else []) + [data_dir / "guardrails" / "detector"]:
        if (base / "detector.json").is_file():
            return base
        pointer = base / "current"
        if pointer.is_file():
            return base / pointer.read_text(encoding="utf-8").strip()
        if configured and base == Path(configured):
            raise GuardrailConfigError(f"guardrails.detector_dir {base} has neither detector.json nor a "
                                       "'current' file: train one with `python -m guardrails.detector_train`")
    return PACKAGED_DIR


def load_artifact(path: Path) -> DetectorArtifact:
    """Read a version directory; errors name the file and the fix."""
    file = Path(path) / "detector.json"
    if not file.is_file():
        raise GuardrailConfigError(f"{file} is missing: train a detector with `python -m guardrails.detector_train`")
    data = json.loads(file.read_text(encoding="utf-8"))
    if data.get("format") != ARTIFACT_FORMAT:
        raise GuardrailConfigError(f"{file} has format {data.get('format')!r}, expected {ARTIFACT_FORMAT}: retrain it")
    return DetectorArtifact(
        version=str(data["version"]),
        weights=np.asarray(data["weights"], dtype=np.float64),
        bias=float(data["bias"]),
        calibration=(float(data["calibration"][0]), float(data["calibration"][1])),
        threshold=float(data["threshold"]),
        suspicion=float(data["suspicion"]),
        embedding_model=str(data["embedding_model"]),
        path=Path(path),
    )
