"""Train the learned input detector (:mod:`guardrails.detector`) on the TUNE sources only.

Data: the ``tune`` split of ``tests/guardrails/heldout/corpus.jsonl`` plus the project's own corpus
(``tests/guardrails/corpus``, input items) and ``config/exemplars.yml``; ``extra_rows`` adds more (e.g.
admins' confirmed verdicts). Held-out sources are embedded only to *measure* the trained head; nothing is
chosen on them.

Steps (:func:`train`):

1. embed every text (:func:`guardrails.detector.detector_text`, the same preprocessing the rails use);
   vectors are cached per text hash, so retraining embeds only new rows;
2. out-of-fold predictions: logistic regression over [embedding, TF-IDF of the word 1-/2-grams]
   (:func:`guardrails.detector.term_vector`) refitted on 4/5 of the tune rows, stratified by source and
   label, scoring the other fifth;
3. Platt calibration on those out-of-fold scores; ``threshold`` = the lowest probability whose
   out-of-fold false-positive rate stays <= ``target_fpr`` on all benign tune rows and <=
   ``workplace_fpr`` on the workplace-like ones (authored edgy questions, the project's corpus);
   ``suspicion`` likewise at ``suspicion_fpr``;
4. the final head fitted on all tune rows; metrics in-sample, out-of-source and held-out.

Run: ``python -m guardrails.detector_train --out DIR`` (heavy: embeds a few thousand texts).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import yaml

from guardrails.corpus import DEFAULT_CORPUS_DIR, load_corpus
from guardrails.detector import ARTIFACT_FORMAT, ENCODER, PACKAGED_DIR, DetectorEncoder, detector_text, terms

HELDOUT_CORPUS = DEFAULT_CORPUS_DIR.parent / "heldout" / "corpus.jsonl"
EXEMPLARS = Path(__file__).with_name("config") / "exemplars.yml"
ADMIN_SOURCE = "admin-verdicts"  # rows from admins' confirmed verdicts (guardrails.verdicts)
ATTACK_FAMILIES = ("jailbreak", "prompt_extraction", "injection", "harmful")
# the project's own corpus kinds, as attack families
REPO_KINDS = {"jailbreak": "jailbreak", "exfiltration": "prompt_extraction", "unicode": "jailbreak",
              "long": "jailbreak", "benign": "benign"}


@dataclass(frozen=True)
class Row:
    """One labelled text; ``source`` groups rows for the out-of-source folds."""

    text: str
    label: str
    source: str
    split: str = "tune"

    @property
    def attack(self) -> bool:
        return self.label != "benign"


@dataclass
class TrainConfig:
    """What :func:`train` does; every choice is made on tune rows only."""

    c: float = 4.0  # inverse L2 strength of the logistic regression
    min_df: int = 2  # a word or word pair counts when at least this many tune rows hold it
    folds: int = 5
    target_fpr: float = 0.01  # out-of-fold false-positive rate allowed on all benign tune rows ...
    workplace_fpr: float = 0.02  # ... and on the workplace-like ones, at the blocking threshold
    suspicion_fpr: float = 0.05
    benign_weight: float = 6.0  # workplace-like benign rows (authored, repo) count this many times
    seed: int = 14
    workplace_sources: tuple[str, ...] = ("ratchet-edgy-tune", "ratchet-requests-tune", "ratchet-near-miss-tune",
                                          "ratchet-tech-tune", "repo-corpus", "repo-exemplars", ADMIN_SOURCE)


@dataclass
class TrainResult:
    """The artifact fields, its training-data manifest and its metrics."""

    detector: dict
    manifest: dict
    metrics: dict = field(default_factory=dict)


# --- data ----------------------------------------------------------------------------------------------------
def corpus_rows(path: Path = HELDOUT_CORPUS) -> list[Row]:
    """All rows of the held-out corpus file (both splits; callers filter)."""
    rows = []
    for line in Path(path).read_text(encoding="utf-8").split("\n"):
        if line.strip():
            item = json.loads(line)
            rows.append(Row(item["text"], item["label"], item["source"], item["split"]))
    return rows


def repo_rows(corpus_dir: Path = DEFAULT_CORPUS_DIR, exemplars: Path = EXEMPLARS) -> list[Row]:
    """The project's own corpus (input questions) and exemplars, as tune rows."""
    rows = [Row(c.text, REPO_KINDS.get(c.kind, "jailbreak"), "repo-corpus")
            for c in load_corpus(corpus_dir) if c.target == "input"]
    data = yaml.safe_load(Path(exemplars).read_text(encoding="utf-8")) or {}
    rows += [Row(t, "jailbreak", "repo-exemplars") for t in data.get("attacks") or []]
    rows += [Row(t, "benign", "repo-exemplars") for t in data.get("benign") or []]
    return rows


def training_rows(extra_rows: list[Row] | None = None, corpus: Path = HELDOUT_CORPUS) -> tuple[list[Row], list[Row]]:
    """(tune rows, held-out rows): tune = corpus tune split + repo corpus + exemplars + ``extra_rows``."""
    everything = corpus_rows(corpus)
    tune = [r for r in everything if r.split == "tune"] + repo_rows() + list(extra_rows or [])
    return tune, [r for r in everything if r.split == "heldout"]


# --- embeddings ----------------------------------------------------------------------------------------------
def _key(text: str) -> str:
    return hashlib.sha1(detector_text(text).encode("utf-8")).hexdigest()


def embed_rows(embedder, rows: list[Row], cache: Path | None = None) -> np.ndarray:
    """Embeddings of ``rows`` (cached by text hash in ``cache``, an .npz file, when given)."""
    stored: dict[str, np.ndarray] = {}
    if cache is not None and Path(cache).is_file():
        with np.load(cache) as data:
            stored = {k: data[k] for k in data.files}
    missing = sorted({_key(r.text): detector_text(r.text) for r in rows if _key(r.text) not in stored}.items())
    if missing:
        vectors = embedder.embed([text for _, text in missing])
        stored.update({k: v for (k, _), v in zip(missing, vectors)})
        if cache is not None:
            Path(cache).parent.mkdir(parents=True, exist_ok=True)
            np.savez(cache, **stored)
    return np.stack([stored[_key(r.text)] for r in rows]) if rows else np.zeros((0, 384), dtype=np.float32)


# --- fitting -------------------------------------------------------------------------------------------------
@dataclass
class Head:
    """A fitted logistic regression over [embedding, TF-IDF of the words] and the vectorizer of its words."""

    model: object
    vectorizer: object

    def decision(self, x: np.ndarray, rows: list[Row]) -> np.ndarray:
        return self.model.decision_function(_features(x, rows, self.vectorizer))

    def fields(self) -> dict:
        """The artifact's weights: embedding part, bias, and per term [idf, weight]."""
        coef = self.model.coef_[0]
        dims = len(coef) - len(self.vectorizer.idf_)
        return {"weights": [round(float(v), 7) for v in coef[:dims]], "bias": float(self.model.intercept_[0]),
                "terms": {t: [round(float(self.vectorizer.idf_[i]), 6), round(float(coef[dims + i]), 7)]
                          for t, i in sorted(self.vectorizer.vocabulary_.items()) if coef[dims + i] != 0.0}}


def _analyzer(text: str) -> list[str]:
    return list(terms(text).elements())


def _features(x: np.ndarray, rows: list[Row], vectorizer):
    from scipy.sparse import csr_matrix, hstack

    return hstack([csr_matrix(x), vectorizer.transform([r.text for r in rows])]).tocsr()


def _weights(rows: list[Row], config: TrainConfig) -> np.ndarray:
    y = np.array([r.attack for r in rows])
    w = np.where(y, 1.0, len(y) / max(1, (~y).sum()) * y.mean())  # balance the classes
    boost = np.array([(not r.attack) and r.source in config.workplace_sources for r in rows])
    return w * np.where(boost, config.benign_weight, 1.0)


def _fit(x: np.ndarray, rows: list[Row], config: TrainConfig) -> Head:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(analyzer=_analyzer, min_df=config.min_df, sublinear_tf=True)
    vectorizer.fit([r.text for r in rows])
    model = LogisticRegression(C=config.c, max_iter=3000)
    model.fit(_features(x, rows, vectorizer), np.array([r.attack for r in rows]), sample_weight=_weights(rows, config))
    return Head(model, vectorizer)


def out_of_fold_scores(x: np.ndarray, rows: list[Row], config: TrainConfig, *, by_source: bool = False) -> np.ndarray:
    """Decision values of each row from a head fitted without it: stratified folds, or (``by_source``)
    folds that leave whole source groups out (a diagnostic: a family whose only source is left out is
    unseen by that fold's head)."""
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    groups = np.array([r.source for r in rows])
    if by_source:
        splits = GroupKFold(n_splits=min(config.folds, len(set(groups)))).split(x, groups=groups)
    else:
        strata = np.array([f"{r.source}/{r.label}" for r in rows])
        counts = Counter(strata)
        strata = np.array([s if counts[s] >= config.folds else "small" for s in strata])
        splits = StratifiedKFold(config.folds, shuffle=True, random_state=config.seed).split(x, strata)
    scores = np.zeros(len(rows))
    for train_idx, test_idx in splits:
        y_train = [rows[i].attack for i in train_idx]
        if len(set(y_train)) < 2:
            scores[test_idx] = 0.0
            continue
        head = _fit(x[train_idx], [rows[i] for i in train_idx], config)
        scores[test_idx] = head.decision(x[test_idx], [rows[i] for i in test_idx])
    return scores


def _platt(scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1e6, max_iter=1000).fit(scores[:, None], y)
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def _threshold(probabilities: np.ndarray, benign: np.ndarray, fpr: float) -> float:
    """The lowest threshold whose false-positive rate on the ``benign`` rows is <= ``fpr``."""
    values = np.sort(probabilities[benign])[::-1]
    allowed = int(np.floor(fpr * len(values)))
    if allowed >= len(values):
        return 0.0
    return float(min(0.999, values[allowed] + 1e-6))


def rates(probabilities: np.ndarray, rows: list[Row], threshold: float) -> dict:
    """Block rate per attack family and false-positive rate (overall and per benign source)."""
    blocked = probabilities >= threshold
    out: dict = {"n": len(rows)}
    for family in ATTACK_FAMILIES:
        picked = [b for b, r in zip(blocked, rows) if r.label == family]
        if picked:
            out[f"{family}_block_rate"] = round(float(np.mean(picked)), 4)
            out[f"{family}_n"] = len(picked)
    benign = [(b, r) for b, r in zip(blocked, rows) if not r.attack]
    if benign:
        out["false_positive_rate"] = round(float(np.mean([b for b, _ in benign])), 4)
        out["benign_n"] = len(benign)
        out["false_positive_rate_by_source"] = {
            s: round(float(np.mean([b for b, r in benign if r.source == s])), 4)
            for s in sorted({r.source for _, r in benign})}
    return out


def train(embedder, tune: list[Row], heldout: list[Row] | None = None, config: TrainConfig | None = None,
          cache: Path | None = None, version: str | None = None) -> TrainResult:
    """Fit, calibrate and threshold a head on ``tune``; measure it on ``heldout`` (no choice made there)."""
    config = config or TrainConfig()
    x = embed_rows(embedder, tune, cache)
    y = np.array([r.attack for r in tune])
    oof = out_of_fold_scores(x, tune, config)
    a, c = _platt(oof, y)
    oof_p = 1.0 / (1.0 + np.exp(-(a * oof + c)))
    work = np.array([(not r.attack) and r.source in config.workplace_sources for r in tune])
    threshold = max(_threshold(oof_p, ~y, config.target_fpr),
                    _threshold(oof_p, work, config.workplace_fpr) if work.any() else 0.0)
    suspicion = min(threshold, _threshold(oof_p, ~y, config.suspicion_fpr))
    head = _fit(x, tune, config)
    version = version or dt.datetime.now(dt.timezone.utc).strftime("v%Y%m%d-%H%M%S")
    detector = {
        "format": ARTIFACT_FORMAT, "version": version, "embedding_model": Path(embedder.path).name,
        "encoder": dict(ENCODER),
        **head.fields(), "calibration": [a, c], "threshold": round(threshold, 6), "suspicion": round(suspicion, 6),
        "trained_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "config": asdict(config),
    }
    result = TrainResult(detector, _manifest(tune, heldout or []))
    logits = a * head.decision(x, tune) + c
    result.metrics["in_sample"] = {"note": "tune rows the head was fitted on",
                                   **rates(1 / (1 + np.exp(-logits)), tune, threshold)}
    result.metrics["out_of_fold"] = {"note": "tune rows scored by heads fitted without them (5 folds)",
                                     **rates(oof_p, tune, threshold)}
    oos = 1 / (1 + np.exp(-(a * out_of_fold_scores(x, tune, config, by_source=True) + c)))
    result.metrics["out_of_source"] = {"note": "tune rows scored by heads fitted without their source group "
                                               "(diagnostic; some families then have no training source)",
                                       **rates(oos, tune, threshold)}
    if heldout:
        xh = embed_rows(embedder, heldout, cache)
        ph = 1 / (1 + np.exp(-(a * head.decision(xh, heldout) + c)))
        result.metrics["heldout"] = {"note": "held-out sources: measured after training, never used to choose",
                                     **rates(ph, heldout, threshold)}
    return result


def _manifest(tune: list[Row], heldout: list[Row]) -> dict:
    digest = hashlib.sha256("\n".join(f"{r.source}\t{r.label}\t{r.text}" for r in tune).encode()).hexdigest()
    return {
        "tune_rows": len(tune), "tune_sha256": digest,
        "tune_by_source": {s: dict(Counter(r.label for r in tune if r.source == s))
                           for s in sorted({r.source for r in tune})},
        "heldout_sources": sorted({r.source for r in heldout}),
        "corpus": "tests/guardrails/heldout/corpus.jsonl (split=tune) + tests/guardrails/corpus + config/exemplars.yml",
    }


def encoder(settings) -> DetectorEncoder:
    """The encoder detectors are trained with (the one the rails load: see guardrails.detector.ENCODER)."""
    import torch

    from engine.rag.embedder import Embedder

    torch.set_num_threads(1)  # a shared CPU: one thread is faster than two contended ones
    return DetectorEncoder(Embedder(settings.rag).path, ENCODER["max_tokens"])


def _write_files(result: TrainResult, directory: Path) -> None:
    """detector.json (one line: thousands of term weights), manifest.json and metrics.json (readable)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, data, indent in (("detector", result.detector, None), ("manifest", result.manifest, 1),
                               ("metrics", result.metrics, 1)):
        (directory / f"{name}.json").write_text(json.dumps(data, indent=indent) + "\n", encoding="utf-8")


def write_artifact(result: TrainResult, out: Path, *, promote: bool = True) -> Path:
    """Write ``out/<version>/{detector,manifest,metrics}.json``; ``promote`` points ``out/current`` at it."""
    version_dir = Path(out) / result.detector["version"]
    _write_files(result, version_dir)
    if promote:
        (Path(out) / "current").write_text(result.detector["version"] + "\n", encoding="utf-8")
    return version_dir


def main() -> None:
    parser = argparse.ArgumentParser(description="Train the learned input detector on the tune sources.")
    parser.add_argument("--out", type=Path, default=None,
                        help="artifact directory (default: <data_dir>/guardrails/detector)")
    parser.add_argument("--packaged", action="store_true", help=f"write the packaged baseline ({PACKAGED_DIR})")
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache (.npz)")
    parser.add_argument("--version", default=None)
    args = parser.parse_args()

    from engine.settings import Settings

    settings = Settings()
    cache = args.cache or settings.data_dir / "guardrails" / "detector-embeddings.npz"
    tune, heldout = training_rows()
    result = train(encoder(settings), tune, heldout, cache=cache, version=args.version)
    if args.packaged:
        _write_files(result, PACKAGED_DIR)
        print(PACKAGED_DIR)
    else:
        print(write_artifact(result, args.out or settings.data_dir / "guardrails" / "detector"))
    print(json.dumps({k: {m: v for m, v in d.items() if m != "false_positive_rate_by_source"}
                      for k, d in result.metrics.items()}, indent=1))


if __name__ == "__main__":
    main()
