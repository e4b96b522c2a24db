"""The learned input detector: a calibrated logistic head over the MiniLM embedding of a question and the
TF-IDF of its words (1- and 2-grams: the embedding carries the topic, the words carry the intent —
"without getting caught", "hack into", "why are … so").

The head is a versioned artifact — one directory holding ``detector.json`` (weights, bias, Platt
calibration, thresholds, the embedding model it was trained with, the terms with their idf and weight),
``manifest.json`` (its training data)
and ``metrics.json`` (what it scored, in-sample and on held-out sources). It is trained by
:mod:`guardrails.detector_train` in seconds once the texts are embedded.

Which artifact is in force, first found wins:

1. ``guardrails.detector_dir`` (a version directory, or a directory with a ``current`` pointer file);
2. ``<data_dir>/guardrails/detector/current`` — the version promoted by retraining;
3. the packaged baseline ``guardrails/config/detector``.

The embedding comes from :class:`DetectorEncoder`: the same MiniLM model retrieval uses, as a private copy
with int8 dynamic quantisation of its linear layers and at most ``max_tokens`` (128) tokens — about half the
time of the full-precision model on one CPU thread (11 vs 28 ms for a short question, 60 vs 120 ms for a
long one, measured on the shared 2-core machine). The artifact records the encoder it was trained with.

Probability: ``p = sigmoid(a * (w·x + v·t + b) + c)`` with ``x`` the normalised embedding of the cleaned
text (first 2,000 characters) and ``t`` its L2-normalised TF-IDF vector (sublinear tf; :func:`term_vector`). A question is refused at ``p >= threshold``; ``p >= suspicion`` corroborates a
model self-check "block".
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import threading
import warnings
from functools import lru_cache

import numpy as np

from guardrails.normalize import clean
from guardrails.patterns import GuardrailConfigError

ARTIFACT_FORMAT = 2
ENCODER = {"quantized": "int8-dynamic", "max_tokens": 128}  # how the packaged detectors embed
_WORD = re.compile(r"(?u)\b\w\w+\b")
PACKAGED_DIR = Path(__file__).with_name("config") / "detector"
MAX_EMBED_CHARS = 2000


def detector_text(text: str) -> str:
    """What the detector embeds: the cleaned text, first 2,000 characters (training uses the same)."""
    return clean(text)[:MAX_EMBED_CHARS]


@lru_cache(maxsize=2)
def _quantized_model(path: str, max_tokens: int):
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(path, device="cpu", local_files_only=True)
    model.max_seq_length = max_tokens
    with warnings.catch_warnings():  # torch points at torchao for new code; the eager API is what runs here
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


class DetectorEncoder:
    """The detector's embedding model: MiniLM (``path``), int8-quantised, ``max_tokens`` tokens at most."""

    def __init__(self, path: str, max_tokens: int = ENCODER["max_tokens"]) -> None:
        self.path = path
        self.model = _quantized_model(path, max_tokens)
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        """Normalised float32 vectors of ``texts`` (detector texts: see :func:`detector_text`)."""
        with self._lock:
            return self.model.encode(list(texts), batch_size=32, normalize_embeddings=True,
                                     show_progress_bar=False, convert_to_numpy=True)

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


def terms(text: str) -> Counter[str]:
    """Word 1- and 2-grams of the detector text (lower-cased; words of two or more letters)."""
    words = _WORD.findall(detector_text(text).lower())
    return Counter(words + [f"{a} {b}" for a, b in zip(words, words[1:])])


def term_vector(text: str, idf: dict[str, float]) -> dict[str, float]:
    """The L2-normalised TF-IDF of ``text`` over the terms in ``idf`` (tf = 1 + log count)."""
    values = {t: (1.0 + math.log(n)) * idf[t] for t, n in terms(text).items() if t in idf}
    norm = math.sqrt(sum(v * v for v in values.values())) or 1.0
    return {t: v / norm for t, v in values.items()}


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
    encoder: dict = field(default_factory=lambda: dict(ENCODER))
    idf: dict[str, float] = field(default_factory=dict)
    term_weights: dict[str, float] = field(default_factory=dict)

    def text_logit(self, text: str) -> float:
        """The words' share of the logit (``v·t``)."""
        return sum(v * self.term_weights.get(t, 0.0) for t, v in term_vector(text, self.idf).items())

    def probabilities(self, vectors: np.ndarray, texts: list[str]) -> np.ndarray:
        """Attack probability per row of ``vectors`` (normalised embeddings of ``texts``)."""
        a, c = self.calibration
        words = np.array([self.text_logit(t) for t in texts], dtype=np.float64)
        logits = a * (np.asarray(vectors, dtype=np.float64) @ self.weights + words + self.bias) + c
        return 1.0 / (1.0 + np.exp(-logits))

    def score(self, vector: np.ndarray, text: str, threshold: float | None = None,
              suspicion: float | None = None) -> DetectorScore:
        """The score of one text and its embedding (``threshold`` and ``suspicion`` override the artifact's)."""
        probability = float(self.probabilities(vector[None, :], [text])[0])
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
        encoder=dict(data["encoder"]),
        idf={t: float(v[0]) for t, v in data["terms"].items()},
        term_weights={t: float(v[1]) for t, v in data["terms"].items()},
    )
