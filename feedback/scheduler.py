"""When training runs: APScheduler with its job store in Ratchet's database.

Two training jobs (both optional, from ``settings.feedback``): a cron schedule (``train_cron``) and a periodic
check that trains once ``train_min_new_examples`` new labelled answers have accumulated; and the input
detector's retraining (``guardrails.detector_retrain_cron``) with admins' confirmed verdicts. The jobs live in the
``apscheduler_jobs`` table, so they survive restarts; the training lock keeps runs one at a time across
processes.

The stored jobs carry only a reference (:func:`settings_ref`), never settings: the salt, API keys and
tokens stay out of the ``apscheduler_jobs`` table, and a job reads its settings when it runs
(:func:`job_settings`).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from engine.logs import get_logger

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

    from engine.settings import Settings

log = get_logger(__name__)

CRON_JOB, COUNT_JOB = "ratchet-train-cron", "ratchet-train-new-examples"
DETECTOR_JOB = "ratchet-detector-retrain"
JOBSTORE_TABLE = "apscheduler_jobs"
_SCHEDULED: dict[str, Settings] = {}  # settings of the schedulers built in this process, by reference


def settings_ref(settings: Settings) -> str:
    """A non-secret reference to one Ratchet instance's settings (a digest of its data dir and database)."""
    return hashlib.sha256(f"{settings.data_dir}|{settings.db_url}".encode()).hexdigest()[:16]


def job_settings(ref: str = "") -> Settings:
    """The settings a job runs with, found when it runs: those of the scheduler built in this process for
    ``ref``, else read again from the environment and the config file. Never from the job store."""
    scheduled = _SCHEDULED.get(ref)
    if scheduled is not None:
        return scheduled
    from engine.settings import load_settings

    return load_settings()


def train_on_schedule(ref: str = "", **_stored: Any) -> str:
    """The cron job: train from whatever feedback there is. (``_stored``: kwargs of older job rows, unused.)"""
    return _run(job_settings(ref), "cron")


def train_if_enough_new(ref: str = "", **_stored: Any) -> str:
    """The periodic job: train once enough new labelled answers have accumulated."""
    from feedback.jobs import new_labelled_examples
    from feedback.store import FeedbackStore

    settings = job_settings(ref)
    new = new_labelled_examples(FeedbackStore(settings))
    if new < settings.feedback.train_min_new_examples:
        log.debug("scheduler.not_enough_new", new=new, needed=settings.feedback.train_min_new_examples)
        return "waiting"
    return _run(settings, "new_examples")


def retrain_detector_on_schedule(ref: str = "", **_stored: Any) -> str:
    """The detector job: retrain the input detector with admins' confirmed verdicts; promoted only through
    its held-out gate (guardrails/detector_retrain.py). Returns 'promoted' or 'rejected'."""
    from guardrails.detector_retrain import retrain_detector

    return "promoted" if retrain_detector(job_settings(ref)).promoted else "rejected"


def _run(settings: Settings, trigger: str) -> str:
    from feedback.jobs import run_training
    from feedback.lock import TrainingBusy

    try:
        outcome = run_training(settings, trigger=trigger)
    except TrainingBusy as exc:
        log.info("scheduler.training_busy", reason=str(exc))
        return "busy"
    if settings.feedback.retrieval.enabled:
        _run_retrieval(settings, trigger)
    return outcome.status


def _run_retrieval(settings: Settings, trigger: str) -> None:
    """Retrieval models train next to the adapter, from the same votes; their failure never fails the job."""
    from feedback.lock import TrainingBusy
    from feedback.retrieval_jobs import run_retrieval_training

    try:
        run_retrieval_training(settings, trigger=trigger)
    except TrainingBusy as exc:
        log.info("scheduler.training_busy", reason=str(exc))
    except Exception as exc:  # noqa: BLE001 - logged; the adapter's outcome stands
        log.error("scheduler.retrieval_training_failed", error=f"{type(exc).__name__}: {exc}")


def build_scheduler(settings: Settings, *, background: bool = True) -> BaseScheduler:
    """A scheduler with the configured training jobs in the persistent job store (not started)."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger

    from engine.db import get_engine

    store = SQLAlchemyJobStore(engine=get_engine(settings.db_url), tablename=JOBSTORE_TABLE)
    cls = BackgroundScheduler if background else BlockingScheduler
    scheduler = cls(jobstores={"default": store}, job_defaults={"coalesce": True, "max_instances": 1,
                                                                "misfire_grace_time": 3600}, timezone="UTC")
    ref = settings_ref(settings)
    _SCHEDULED[ref] = settings
    job_kwargs = {"ref": ref}  # a reference only: no setting (and so no secret) is stored with the jobs
    f = settings.feedback
    if f.train_cron:
        scheduler.add_job(train_on_schedule, CronTrigger.from_crontab(f.train_cron, timezone="UTC"),
                          id=CRON_JOB, kwargs=job_kwargs, replace_existing=True)
    else:
        _remove_stale(scheduler, store, CRON_JOB)
    if f.train_min_new_examples > 0:
        scheduler.add_job(train_if_enough_new, "interval", seconds=f.train_check_interval_s, id=COUNT_JOB,
                          kwargs=job_kwargs, replace_existing=True)
    else:
        _remove_stale(scheduler, store, COUNT_JOB)
    detector_cron = settings.guardrails.detector_retrain_cron
    if detector_cron:
        scheduler.add_job(retrain_detector_on_schedule, CronTrigger.from_crontab(detector_cron, timezone="UTC"),
                          id=DETECTOR_JOB, kwargs=job_kwargs, replace_existing=True)
    else:
        _remove_stale(scheduler, store, DETECTOR_JOB)
    log.info("scheduler.configured", cron=f.train_cron, min_new_examples=f.train_min_new_examples,
             detector_cron=detector_cron)
    return scheduler


def _remove_stale(scheduler: BaseScheduler, store: Any, job_id: str) -> None:
    """A job disabled in the settings must not keep firing from the persistent store."""
    store.jobs_t.create(store.engine, checkfirst=True)
    if store.lookup_job(job_id) is not None:
        store.remove_job(job_id)
