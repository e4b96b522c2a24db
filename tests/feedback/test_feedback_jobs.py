"""Training jobs without a full training: the crash-safe lock, recovery after kill -9, a failing run,
the persistent scheduler, and promotion refused by the gate."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from engine.registry import AdapterRegistry
from engine.timeutil import utcnow
from feedback import FeedbackStore
from feedback.jobs import run_training, training_root
from feedback.lock import TrainingBusy, TrainingLockHolder
from feedback.training import TrainingError
from feedback.models import TrainingLock, TrainingRun
from feedback.scheduler import COUNT_JOB, CRON_JOB, build_scheduler, settings_ref, train_if_enough_new
from feedback.synthetic import seed_pairs


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_lock_is_exclusive_and_survives_a_dead_holder(make_settings) -> None:
    settings = make_settings()
    store = FeedbackStore(settings)
    with TrainingLockHolder(settings, store.sessions):
        with pytest.raises(TrainingBusy, match=f"pid {os.getpid()}"):
            TrainingLockHolder(settings, store.sessions).acquire()
    # a holder killed -9 leaves its row; its PID is gone, so the next one takes over
    with store.sessions.begin() as s:
        s.add(TrainingLock(name="training", owner="x", pid=_dead_pid(), host=os.uname().nodename,
                           acquired_at=utcnow(), heartbeat_at=utcnow()))
    holder = TrainingLockHolder(settings, store.sessions)
    holder.acquire()
    with store.sessions() as s:
        assert s.get(TrainingLock, "training").owner == holder.owner
    holder.release()
    with store.sessions() as s:
        assert s.get(TrainingLock, "training") is None


def test_failed_training_registers_nothing_and_leaves_no_directory(make_settings) -> None:
    settings = make_settings(feedback={"heldout_fraction": 0.0})
    store = FeedbackStore(settings)
    seed_pairs(store, 4)
    # leftovers of a run killed -9: a 'running' row and a half-written directory
    with store.sessions.begin() as s:
        s.add(TrainingRun(trigger="cron", method="dpo", status="running", started_at=utcnow(),
                          labelled_examples=0, metrics={}))
    (training_root(settings) / ".training-dead" / "adapter").mkdir(parents=True)
    with pytest.raises(ValueError):  # PEFT refuses target modules the model does not have
        run_training(settings, overrides={"target_modules": ["no_such_proj"], "max_steps": 1}, evaluate=False)
    assert AdapterRegistry(settings).versions() == []
    assert list(training_root(settings).iterdir()) == []
    assert not any(settings.adapters_dir.iterdir()) if settings.adapters_dir.exists() else True
    with store.sessions() as s:
        runs = list(s.scalars(select(TrainingRun).order_by(TrainingRun.id)))
        assert s.get(TrainingLock, "training") is None
    assert [r.status for r in runs] == ["failed", "failed"]
    assert runs[0].error.startswith("interrupted") and "no_such_proj" in runs[1].error


def test_training_without_enough_data_is_skipped(make_settings) -> None:
    settings = make_settings()
    outcome = run_training(settings, evaluate=False)
    assert outcome.status == "skipped" and "collect more votes" in outcome.reason


def test_prompts_longer_than_max_length_refuse_training_instead_of_training_on_nothing(make_settings) -> None:
    # TRL drops an example whose prompt alone fills max_length; real prompts (five retrieved chunks) are
    # ~1,200-1,600 tokens, so a short max_length used to train one step on nothing and register the result
    settings = make_settings(feedback={"heldout_fraction": 0.0})
    seed_pairs(FeedbackStore(settings), 4)
    with pytest.raises(TrainingError, match="longer than max_length 32") as info:
        run_training(settings, overrides={"max_length": 32, "max_steps": 1}, evaluate=False)
    assert "raise feedback.training.max_length" in info.value.hint
    assert AdapterRegistry(settings).versions() == []
    with FeedbackStore(settings).sessions() as s:
        run = s.scalars(select(TrainingRun)).one()
    assert run.status == "failed" and "max_length" in run.error


def test_scheduler_jobs_persist_in_the_database(make_settings) -> None:
    settings = make_settings(feedback={"train_cron": "0 3 * * *", "train_min_new_examples": 3})
    scheduler = build_scheduler(settings)
    scheduler.start(paused=True)
    assert {j.id for j in scheduler.get_jobs()} == {CRON_JOB, COUNT_JOB}
    scheduler.shutdown()
    # a new process sees the stored jobs; disabling the cron in the settings removes it from the store
    settings = make_settings(feedback={"train_cron": None, "train_min_new_examples": 3})
    scheduler = build_scheduler(settings)
    scheduler.start(paused=True)
    assert {j.id for j in scheduler.get_jobs()} == {COUNT_JOB}
    scheduler.shutdown()
    store = FeedbackStore(settings)
    seed_pairs(store, 1)  # 2 labelled answers < 3
    assert train_if_enough_new(ref=settings_ref(settings)) == "waiting"  # the stored jobs' only argument


async def test_every_admin_path_needs_a_passing_gate_or_an_audited_force(make_settings, model_dir, tmp_path,
                                                                          vllm_url) -> None:
    """Promote, canary and rollback all refuse a version without a passing gate; force works and is audited."""
    from bot.admin_actions import AdminActions, AdminError
    from engine.adapter_factory import make_random_adapter
    from engine.llm_client import LLMClient

    settings = make_settings(engine={"vllm_url": vllm_url})
    registry = AdapterRegistry(settings)
    version = registry.register(make_random_adapter(model_dir, tmp_path / "a", rank=8, seed=1))
    async with LLMClient(vllm_url) as client:
        actions = AdminActions(registry, client)
        with pytest.raises(AdminError, match="no gate report"):
            await actions.promote(version.id, actor="slack:UADMIN")
        registry.set_gate_report(version.id, {"passed": False, "checks": [
            {"name": "reward_accuracy", "value": 0.4, "threshold": ">= 0.6", "passed": False}]})
        with pytest.raises(AdminError, match="reward_accuracy"):
            await actions.promote(version.id, actor="cli:ops")
        with pytest.raises(AdminError, match="reward_accuracy"):
            await actions.canary(version.id, 10, actor="page")
        assert registry.aliases()["production"][0] is None and registry.aliases()["canary"][0] is None
        await actions.promote(version.id, actor="page", force=True)
        await actions.promote("base", actor="page")
        with pytest.raises(AdminError, match="reward_accuracy"):  # rolling back onto a failed version
            await actions.rollback(actor="cli:ops")
        await actions.rollback(actor="cli:ops", force=True)
        assert registry.aliases()["production"][0] == version.id
    log = [(e.actor, e.action, e.allowed) for e in registry.audit_log(limit=100)]
    assert ("slack:UADMIN", "promote", 0) in log and ("page", "canary", 0) in log
    assert ("page", "promote.forced", 1) in log and ("cli:ops", "rollback.forced", 1) in log

