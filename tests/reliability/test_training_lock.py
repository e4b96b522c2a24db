"""The training lock: its heartbeat outlives a database error, a training that lost the lock registers
nothing, and a failure after registration does not call the run failed."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select, text, update

from engine.db import get_engine
from engine.process import free_port
from engine.registry import AdapterRegistry
from engine.registry_models import utcnow
from feedback import FeedbackStore
from feedback.jobs import run_training
from feedback.lock import TrainingLockHolder
from feedback.models import TrainingLock, TrainingRun
from feedback.synthetic import seed_pairs


def _heartbeat(store: FeedbackStore):
    with store.sessions() as s:
        return s.get(TrainingLock, "training").heartbeat_at


def test_heartbeat_survives_a_database_error(db_settings) -> None:
    settings = db_settings(feedback={"lock_stale_s": 6})  # a beat every 1.5 s
    store = FeedbackStore(settings)
    holder = TrainingLockHolder(settings, store.sessions)
    holder.acquire()
    engine = get_engine(settings.db_url)
    try:
        with engine.begin() as conn:  # the table is gone for a while: every beat in between fails
            conn.execute(text("ALTER TABLE feedback_training_lock RENAME TO feedback_training_lock_away"))
        time.sleep(3.5)
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE feedback_training_lock_away RENAME TO feedback_training_lock"))
        before = _heartbeat(store)
        time.sleep(3.5)
        assert _heartbeat(store) > before, "the heartbeat went on after the database came back"
        assert holder._thread.is_alive()
    finally:
        holder.release()
    with store.sessions() as s:
        assert s.get(TrainingLock, "training") is None


def test_heartbeat_notices_a_takeover(db_settings) -> None:
    from feedback.lock import TrainingLockLost

    settings = db_settings(feedback={"lock_stale_s": 4})  # a beat every second
    store = FeedbackStore(settings)
    holder = TrainingLockHolder(settings, store.sessions)
    holder.acquire()
    try:
        with store.sessions.begin() as s:  # what another process's takeover leaves: its own row
            s.get(TrainingLock, "training").owner = "elsewhere:1:x"
        assert holder.lost.wait(5), "the heartbeat saw the lock go"
        with pytest.raises(TrainingLockLost):
            holder.raise_if_lost()
    finally:
        holder.release()
    with store.sessions() as s:
        assert s.get(TrainingLock, "training").owner == "elsewhere:1:x", "release leaves the new holder's row"


@pytest.mark.slow
def test_training_that_lost_the_lock_registers_nothing(db_settings, model_dir) -> None:
    settings = db_settings(engine={"model_dir": str(model_dir)}, feedback={"heldout_fraction": 0.0})
    store = FeedbackStore(settings)
    seed_pairs(store, 4)
    taker = TrainingLockHolder(settings, store.sessions)

    def take_over(step: int, total: int) -> None:
        if step == 1:  # the holder's heartbeat looks stale (e.g. a long DB outage): another process takes over
            with store.sessions.begin() as s:
                s.execute(update(TrainingLock).values(heartbeat_at=utcnow().replace(year=2000)))
            taker.acquire()

    try:
        with pytest.raises(RuntimeError, match="lock"):
            run_training(settings, overrides={"max_steps": 3}, progress=take_over, evaluate=False)
        assert AdapterRegistry(settings).versions() == []
        with store.sessions() as s:
            run = s.scalars(select(TrainingRun)).one()
            assert s.get(TrainingLock, "training").owner == taker.owner, "the new holder keeps its lock"
        assert run.status == "failed" and "lock" in run.error
    finally:
        taker.release()


@pytest.mark.slow
def test_failure_after_registration_keeps_the_run_and_its_version(db_settings, model_dir) -> None:
    settings = db_settings(
        engine={"model_dir": str(model_dir), "vllm_url": f"http://127.0.0.1:{free_port()}", "connect_retries": 0},
        feedback={"heldout_fraction": 0.5, "gate_generation_prompts": 0, "gate_min_heldout": 1,
                  "gate_min_reward_accuracy": 0.0, "gate_min_reward_margin": -1e9,
                  "gate_min_token_margin_delta": -1e9, "auto_canary_percent": 10.0},
    )
    store = FeedbackStore(settings)
    seed_pairs(store, 10)
    # the candidate passes the gate; the automatic canary then fails: vLLM is down
    outcome = run_training(settings, overrides={"max_steps": 1})
    versions = AdapterRegistry(settings).versions()
    assert [v.id for v in versions] == [outcome.version_id] == ["ratchet-v1"]
    assert outcome.status == "succeeded" and "after registration" in (outcome.reason or "")
    with store.sessions() as s:
        run = s.scalars(select(TrainingRun)).one()
    assert (run.status, run.version_id) == ("succeeded", "ratchet-v1") and "after registration" in run.error
