"""The detector learns from admins: confirmed verdicts train the next version, which is promoted only
through its held-out gate."""

from __future__ import annotations

import json

import pytest

from guardrails import Guardrails
from guardrails.detector import resolve_artifact_dir
from guardrails.detector_retrain import gate, retrain_detector
from guardrails.detector_train import TrainConfig, corpus_rows, encoder, train, write_artifact
from guardrails.refusals import save_refusal
from guardrails.verdicts import decide_verdict, list_verdicts, report_verdict, training_rows
from tests.guardrails.conftest import corpus_slice

WRONGLY_ANSWERED = "How do I read my coworker's emails without her knowing?"  # refused per the policy



@pytest.fixture(scope="module")
def detector_encoder(tmp_path_factory):
    from engine.settings import Settings

    return encoder(Settings(data_dir=tmp_path_factory.mktemp("enc")))


@pytest.fixture
def v1(make_settings, detector_encoder):
    """Settings whose detector in force is v1: trained on a small tune slice, written to the data dir."""
    settings = make_settings(guardrails={"jailbreak_patterns": False, "detector_gate_tolerance": 0.05})
    # a slice of the tune sources plus half of the work questions written for Ratchet (the other half stays
    # unseen): enough workplace rows that one verdict moves the threshold as little as it would in production
    work = [r for r in corpus_rows() if r.source.startswith("ratchet-") and r.label == "benign" and r.split == "tune"]
    tune = corpus_slice("tune", 120) + [r for i, r in enumerate(work) if i % 2 == 0]
    heldout = corpus_slice("heldout", 40)
    result = train(detector_encoder, tune, heldout, TrainConfig(folds=3), version="v1")
    write_artifact(result, settings.data_dir / "guardrails" / "detector")
    return settings, tune, heldout


def test_a_corrected_refusal_changes_the_next_detector_version(v1, detector_encoder) -> None:
    settings, tune, heldout = v1
    guard = Guardrails(settings)
    # benign tune-source questions outside v1's training slice: it refuses some of them
    seen = set(tune)
    unseen = [r.text for r in corpus_rows() if r.label == "benign" and r.split == "tune" and r not in seen]
    wrongly_refused = next(t for t in unseen if not guard.precheck_input(t).allowed)
    refused = guard.precheck_input(wrongly_refused)
    assert guard.detector.version == "v1" and refused.rail == "input.semantic_detector"
    # an admin marks the refusal wrong on the admin page; a Slack 👎 verdict waits, then an admin confirms it
    refusal_id = save_refusal(settings.db_url, rail=refused.rail, masked_input=wrongly_refused, message="no",
                              user="U1", channel="C1")
    report_verdict(settings.db_url, verdict="wrong_refusal", text=wrongly_refused, origin="admin", by="admin-web",
                   refusal_id=refusal_id, confirmed=True)
    pending = report_verdict(settings.db_url, verdict="should_refuse", text=WRONGLY_ANSWERED, origin="slack", by="U2")
    assert [r.label for r in training_rows(settings.db_url)] == ["benign"]  # pending verdicts do not train
    assert decide_verdict(settings.db_url, pending, confirm=True, by="admin-web")

    outcome = retrain_detector(settings, tune=tune, heldout=heldout, config=TrainConfig(folds=3), version="v2",
                               embedder=detector_encoder)
    assert outcome.admin_rows == 2 and outcome.promoted, outcome.gate.reasons
    manifest = json.loads((outcome.path / "manifest.json").read_text())
    assert manifest["tune_by_source"]["admin-verdicts"] == {"benign": 1, "harmful": 1}
    assert resolve_artifact_dir(None, settings.data_dir).name == "v2"
    # the running rails pick up the promoted version; its decisions follow the verdicts
    assert guard.precheck_input(wrongly_refused).allowed and guard.detector.version == "v2", wrongly_refused


def test_the_gate_rejects_a_candidate_trained_on_reversed_verdicts(v1, detector_encoder) -> None:
    settings, tune, heldout = v1
    for row in tune:  # an admin who gets every verdict backwards
        report_verdict(settings.db_url, verdict="wrong_refusal" if row.attack else "should_refuse", text=row.text,
                       origin="admin", by="admin-web", confirmed=True)
    assert len(list_verdicts(settings.db_url, limit=1000)) == len(tune)
    outcome = retrain_detector(settings, tune=tune, heldout=heldout, config=TrainConfig(folds=3), version="v-bad",
                               embedder=detector_encoder)
    assert not outcome.promoted and outcome.gate.reasons
    assert resolve_artifact_dir(None, settings.data_dir).name == "v1"  # the version in force did not move
    metrics = json.loads((outcome.path / "metrics.json").read_text())
    assert metrics["gate"]["passed"] is False and metrics["gate"]["current_version"] == "v1"
    assert Guardrails(settings).detector.version == "v1"


def test_gate_compares_every_heldout_rate() -> None:
    current = {"jailbreak_block_rate": 0.9, "harmful_block_rate": 0.5, "false_positive_rate": 0.05}
    same = gate(dict(current), current, current_version="v1", tolerance=0.0)
    assert same.passed and not same.reasons
    worse = gate({**current, "harmful_block_rate": 0.48, "false_positive_rate": 0.07}, current,
                 current_version="v1", tolerance=0.01)
    assert not worse.passed and len(worse.reasons) == 2
    assert gate({**current, "harmful_block_rate": 0.495}, current, current_version="v1", tolerance=0.01).passed


def test_the_detector_retrain_job_is_scheduled_from_the_settings(make_settings) -> None:
    from feedback.scheduler import DETECTOR_JOB, build_scheduler, retrain_detector_on_schedule

    scheduler = build_scheduler(make_settings(guardrails={"detector_retrain_cron": "30 2 * * *"}))
    scheduler.start(paused=True)
    job = scheduler.get_job(DETECTOR_JOB)
    scheduler.shutdown()
    assert job is not None and job.func is retrain_detector_on_schedule and "hour='2'" in str(job.trigger)
    off = make_settings(guardrails={"detector_retrain_cron": None})
    scheduler = build_scheduler(off)  # the same database: the stale job is removed from the store
    scheduler.start(paused=True)
    assert scheduler.get_job(DETECTOR_JOB) is None
    scheduler.shutdown()
