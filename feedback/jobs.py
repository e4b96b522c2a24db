"""One training job end to end: lock → dataset → TRL training → registered candidate → gate → notify.

A crash registers nothing: the adapter is trained into a temporary directory under
``<data_dir>/training`` and only moved into the registry (atomically) once complete. Leftovers of a
killed run are removed by the next run, which also marks the dead run as interrupted.

A run that lost the training lock stops at its next step and registers nothing. Once a version is
registered it is recorded on the run at once: a failure after that (the gate, the automatic canary, a kill)
leaves the run ``succeeded`` with the error noted, since the version exists.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from engine.llm_client import LLMClient
from engine.logs import get_logger
from engine.metrics import observe_training_run
from engine.registry import AdapterRegistry
from engine.registry_models import AdapterVersion
from engine.timeutil import utcnow
from feedback.auto_pairs import with_automatic_pairs
from feedback.datasets import PreferenceData, build_preference_data
from feedback.gate import GateReport, after_gate, evaluate_candidate
from feedback.lock import TrainingLockHolder
from feedback.models import TrainingRun
from feedback.store import FeedbackStore
from feedback.training import Progress, TrainingError, ensure_enough, train_adapter, training_config

if TYPE_CHECKING:
    from engine.settings import Settings, TrainingSettings

log = get_logger(__name__)


@dataclass
class TrainingOutcome:
    """How a training job ended."""

    run_id: int
    status: str  # succeeded | skipped | failed
    version_id: str | None = None
    reason: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    gate: dict[str, Any] | None = None


def training_root(settings: Settings) -> Path:
    """Where runs write before registering (never read by the registry)."""
    return settings.data_dir / "training"


def last_run_start(store: FeedbackStore) -> Any:
    """Start time of the newest training that produced a version (None if none did)."""
    with store.sessions() as s:
        return s.scalar(select(TrainingRun.started_at).where(TrainingRun.status == "succeeded")
                        .order_by(TrainingRun.id.desc()).limit(1))


def new_labelled_examples(store: FeedbackStore) -> int:
    """Answers voted on since the last successful training started."""
    return store.labelled_count(since=last_run_start(store))


def _finish(store: FeedbackStore, run_id: int, **values: Any) -> None:
    with store.sessions.begin() as s:
        s.execute(update(TrainingRun).where(TrainingRun.id == run_id).values(finished_at=utcnow(), **values))
        run = s.get(TrainingRun, run_id)
    observe_training_run(values.get("status", "unknown"), run.started_at, run.finished_at)


def _recover_after_crash(settings: Settings, store: FeedbackStore) -> None:
    """We hold the lock: any 'running' run is dead, any temp directory is garbage."""
    with store.sessions.begin() as s:
        dead = (TrainingRun.status == "running")
        n = s.execute(update(TrainingRun).where(dead, TrainingRun.version_id.is_(None))
                      .values(status="failed", error="interrupted (process died)", finished_at=utcnow())).rowcount
        n += s.execute(update(TrainingRun).where(dead, TrainingRun.version_id.is_not(None)).values(
            status="succeeded", error="interrupted after registration (process died)", finished_at=utcnow())).rowcount
    root = training_root(settings)
    leftovers = list(root.glob(".training-*")) if root.exists() else []
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
    if n or leftovers:
        log.warning("training.recovered", interrupted_runs=n, removed_dirs=len(leftovers))


def _lineage(settings: Settings, config: TrainingSettings, data: PreferenceData) -> dict[str, Any]:
    return {
        **config.hyperparameters(),
        "base_model": str(settings.model_dir),
        "dataset": {
            "snapshot_id": data.snapshot_id,
            "train_example_ids": data.example_ids(config.method, "train"),
            "heldout_example_ids": data.example_ids(config.method, "heldout"),
            "train_pair_kinds": data.pair_kinds("train") if config.method == "dpo" else {},
            "automatic_pairs": data.automatic or {"enabled": False},
        },
    }


async def _gate(settings: Settings, version_id: str, data: PreferenceData, registry: AdapterRegistry) -> GateReport:
    async with LLMClient.from_settings(settings.engine) as client:
        report = await evaluate_candidate(settings, version_id, data, client, registry=registry)
        await after_gate(settings, report, client, registry=registry)
    return report


def train_and_register(settings: Settings, data: PreferenceData, config: TrainingSettings,
                       registry: AdapterRegistry, *, notes: str, progress: Progress | None = None,
                       started: float | None = None,
                       before_register: Callable[[], None] | None = None) -> AdapterVersion:
    """Train an adapter on ``data`` in a temporary directory and register it as a candidate version
    (``before_register`` may raise to stop it, e.g. when the training lock was lost)."""
    started = started if started is not None else time.perf_counter()
    root = training_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=".training-", dir=root))
    try:
        metrics = train_adapter(settings, data, config, workdir, progress=progress).as_dict()
        metrics["total_s"] = round(time.perf_counter() - started, 2)
        if before_register is not None:
            before_register()
        return registry.register(
            workdir / "adapter", parent_version=registry.aliases()["production"][0],
            dataset_snapshot_id=data.snapshot_id, hyperparameters=_lineage(settings, config, data),
            metrics=metrics, notes=notes, move=True,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_training(settings: Settings, *, trigger: str = "manual", overrides: dict[str, Any] | None = None,
                 progress: Progress | None = None, evaluate: bool = True) -> TrainingOutcome:
    """Train a candidate from all current feedback, register it, gate it. Raises TrainingBusy if one runs."""
    store = FeedbackStore(settings)
    store.purge_expired()
    config = training_config(settings, **(overrides or {}))
    with TrainingLockHolder(settings, store.sessions) as lock:
        _recover_after_crash(settings, store)
        with store.sessions.begin() as s:
            run = TrainingRun(trigger=trigger, method=config.method, status="running", started_at=utcnow(),
                              labelled_examples=store.labelled_count(), metrics={})
            s.add(run)
        try:
            return _train_register_gate(settings, store, run.id, config, _checking_lock(lock, progress), evaluate,
                                        lock)
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"[:2000]
            with store.sessions() as s:
                registered = s.get(TrainingRun, run.id).version_id
            if registered:  # the version exists: the run did its job
                _finish(store, run.id, status="succeeded", error=f"after registration: {error}")
            else:
                _finish(store, run.id, status="failed", error=error)
            log.error("training.failed", run_id=run.id, error=str(exc), registered=registered)
            raise


def _checking_lock(lock: TrainingLockHolder, progress: Progress | None) -> Progress:
    """A progress callback that stops training (raises) at the first step after the lock was lost."""
    def step(done: int, total: int) -> None:
        if progress is not None:
            progress(done, total)
        lock.raise_if_lost()
    return step


def _train_register_gate(settings: Settings, store: FeedbackStore, run_id: int, config: TrainingSettings,
                         progress: Progress | None, evaluate: bool, lock: TrainingLockHolder) -> TrainingOutcome:
    started = time.perf_counter()
    registry = AdapterRegistry(settings, store.sessions)
    data = with_automatic_pairs(settings, store, build_preference_data(store), registry, config.method)
    try:
        ensure_enough(data, config.method)
    except TrainingError as exc:
        _finish(store, run_id, status="skipped", error=str(exc))
        return TrainingOutcome(run_id=run_id, status="skipped", reason=str(exc))
    version = train_and_register(settings, data, config, registry, notes=f"trained ({config.method}) from "
                                 f"feedback, run {run_id}", progress=_checking_lock(lock, progress),
                                 started=started, before_register=lock.ensure_held)
    metrics = version.metrics
    with store.sessions.begin() as s:
        s.execute(update(TrainingRun).where(TrainingRun.id == run_id).values(version_id=version.id, metrics=metrics))
    try:
        report = asyncio.run(_gate(settings, version.id, data, registry)) if evaluate else None
    except Exception as exc:  # noqa: BLE001 - the version exists; the gate can be run again on it
        reason = f"registered {version.id}, but a step after registration failed: {type(exc).__name__}: {exc}"
        _finish(store, run_id, status="succeeded", version_id=version.id, metrics=metrics,
                error=f"after registration: {type(exc).__name__}: {exc}"[:2000])
        log.error("training.after_registration_failed", run_id=run_id, version=version.id, error=str(exc))
        return TrainingOutcome(run_id=run_id, status="succeeded", version_id=version.id, reason=reason,
                               metrics=metrics)
    gate = report.as_dict() if report else None
    _finish(store, run_id, status="succeeded", version_id=version.id, metrics=metrics)
    log.info("training.registered", run_id=run_id, version=version.id, gate_passed=gate and gate["passed"])
    return TrainingOutcome(run_id=run_id, status="succeeded", version_id=version.id, metrics=metrics, gate=gate)
