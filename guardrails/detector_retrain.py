"""Retrain the learned detector with admins' confirmed verdicts, and promote it only through the gate.

:func:`retrain_detector` (the scheduled job, ``guardrails.detector_retrain_cron``, and
``python -m guardrails.detector_retrain``):

1. tune rows = the corpus's tune sources + the project's corpus + confirmed verdicts
   (:func:`guardrails.verdicts.training_rows`, source ``admin-verdicts``);
2. a candidate version is trained (:func:`guardrails.detector_train.train`) and written with its manifest;
3. the gate (:func:`gate`) scores the candidate and the version in force on the same held-out rows: the
   candidate is promoted (the ``current`` pointer moves) only when no held-out block rate drops and the
   false-positive rate does not rise by more than ``guardrails.detector_gate_tolerance``. A rejected
   candidate stays on disk with its gate report, never in force.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from engine.logs import get_logger
from engine.settings import Settings
from guardrails.detector import load_artifact, resolve_artifact_dir
from guardrails.detector_train import (ATTACK_FAMILIES, Row, TrainConfig, embed_rows, encoder, rates, train,
                                       training_rows, write_artifact)
from guardrails.verdicts import training_rows as verdict_rows

log = get_logger(__name__)
GATED_BLOCK_RATES = tuple(f"{family}_block_rate" for family in ATTACK_FAMILIES)


@dataclass
class GateReport:
    """What the gate compared and decided."""

    passed: bool
    candidate: dict
    current: dict
    current_version: str
    tolerance: float
    reasons: list[str] = field(default_factory=list)


@dataclass
class RetrainOutcome:
    """The candidate version, where it was written, the gate's report, and whether it is now in force."""

    version: str
    path: Path
    gate: GateReport
    promoted: bool
    admin_rows: int


def gate(candidate: dict, current: dict, *, current_version: str, tolerance: float) -> GateReport:
    """Compare held-out rates (dicts from :func:`guardrails.detector_train.rates` on the same rows)."""
    reasons = []
    for key in GATED_BLOCK_RATES:
        if key in current and candidate.get(key, 0.0) < current[key] - tolerance:
            reasons.append(f"held-out {key} {candidate.get(key, 0.0):.4f} < current {current[key]:.4f}")
    if candidate.get("false_positive_rate", 1.0) > current.get("false_positive_rate", 0.0) + tolerance:
        reasons.append(f"held-out false_positive_rate {candidate.get('false_positive_rate'):.4f} > current "
                       f"{current.get('false_positive_rate', 0.0):.4f}")
    return GateReport(not reasons, candidate, current, current_version, tolerance, reasons)


def retrain_detector(settings: Settings, *, tune: list[Row] | None = None, heldout: list[Row] | None = None,
                     config: TrainConfig | None = None, version: str | None = None, embedder=None) -> RetrainOutcome:
    """Train a candidate with the confirmed verdicts, gate it against the version in force, promote it if it
    passes. ``tune`` / ``heldout`` default to the corpus (tests pass slices)."""
    admin = verdict_rows(settings.db_url)
    if tune is None or heldout is None:
        tune_default, heldout_default = training_rows()
        tune, heldout = tune if tune is not None else tune_default, heldout if heldout is not None else heldout_default
    out = settings.data_dir / "guardrails" / "detector"
    cache = settings.data_dir / "guardrails" / "detector-embeddings.npz"
    embedder = embedder or encoder(settings)
    result = train(embedder, list(tune) + admin, heldout, config, cache=cache, version=version)
    current = load_artifact(resolve_artifact_dir(settings.guardrails.detector_dir, settings.data_dir))
    texts = [r.text for r in heldout]
    current_rates = rates(current.probabilities(embed_rows(embedder, heldout, cache), texts), heldout,
                          current.threshold)
    report = gate(result.metrics["heldout"], current_rates, current_version=current.version,
                  tolerance=settings.guardrails.detector_gate_tolerance)
    result.metrics["gate"] = asdict(report)
    path = write_artifact(result, out, promote=report.passed)
    log.info("detector.retrained", version=result.detector["version"], promoted=report.passed,
             admin_rows=len(admin), reasons=report.reasons)
    return RetrainOutcome(result.detector["version"], path, report, report.passed, len(admin))


def main() -> None:
    from engine.settings import load_settings

    outcome = retrain_detector(load_settings())
    print(json.dumps({"version": outcome.version, "promoted": outcome.promoted, "admin_rows": outcome.admin_rows,
                      "reasons": outcome.gate.reasons, "path": str(outcome.path)}, indent=1))


if __name__ == "__main__":
    main()
