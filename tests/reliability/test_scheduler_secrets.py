"""The scheduler's job store holds no secrets, and asker ids are never hashed with an empty salt."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from feedback import FeedbackError, FeedbackStore
import feedback.scheduler as sched
from feedback.scheduler import COUNT_JOB, CRON_JOB, build_scheduler
from feedback.synthetic import seed_pairs

SECRETS = {
    "feedback": {"hash_askers": True, "asker_hash_salt": "pepper-0f3c9a77d1"},
    "rag": {"weaviate_api_key": "wv-key-5be81c2e90"},
    "admin": {"admin_token": "admin-tok-77aa01"},
    "bot": {"slack_bot_token": "xoxb-111-222-slacksecret", "slack_app_token": "xapp-1-slackappsecret"},
}
SECRET_VALUES = ["pepper-0f3c9a77d1", "wv-key-5be81c2e90", "admin-tok-77aa01", "slacksecret", "slackappsecret"]


def _stored_jobs(settings) -> bytes:
    store = FeedbackStore(settings)
    with store.sessions() as s:
        rows = s.execute(text("SELECT id, job_state FROM apscheduler_jobs")).all()
    assert {r[0] for r in rows} == {CRON_JOB, COUNT_JOB}
    return b"".join(bytes(r[1]) for r in rows)


def test_job_store_holds_no_secrets_and_jobs_read_settings_when_they_run(db_settings) -> None:
    settings = db_settings(**{**SECRETS, "feedback": {**SECRETS["feedback"], "train_cron": "0 3 * * *",
                                                      "train_min_new_examples": 3}})
    scheduler = build_scheduler(settings)
    scheduler.start(paused=True)
    jobs = {j.id: j for j in scheduler.get_jobs()}
    scheduler.shutdown()
    stored = _stored_jobs(settings)
    for secret in SECRET_VALUES:
        assert secret.encode() not in stored, f"{secret} is in the apscheduler_jobs table"
    assert jobs[COUNT_JOB].args == () and all(isinstance(v, str) for v in jobs[COUNT_JOB].kwargs.values())
    # the job finds the settings again (secrets included) in the process that runs it
    ran_with = sched.job_settings(**jobs[COUNT_JOB].kwargs)
    assert ran_with.feedback.asker_hash_salt == "pepper-0f3c9a77d1" and ran_with.db_url == settings.db_url
    seed_pairs(FeedbackStore(settings), 1)  # 2 labelled answers < 3
    assert sched.train_if_enough_new(**jobs[COUNT_JOB].kwargs) == "waiting"


def test_a_job_for_unknown_settings_reads_them_from_the_environment(db_settings, monkeypatch, tmp_path) -> None:
    settings = db_settings()
    monkeypatch.setenv("RATCHET_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("RATCHET_RAG__WEAVIATE_API_KEY", "from-the-environment")
    reread = sched.job_settings(ref="not-registered-here")
    assert reread.rag.weaviate_api_key == "from-the-environment" and reread.data_dir == tmp_path / "elsewhere"
    assert settings.rag.weaviate_api_key is None


def test_hashing_askers_with_an_empty_salt_is_refused(db_settings) -> None:
    with pytest.raises(FeedbackError, match="asker_hash_salt") as err:
        FeedbackStore(db_settings(feedback={"hash_askers": True}))
    assert "RATCHET_FEEDBACK__ASKER_HASH_SALT" in str(err.value), "the message says how to fix it"
    with pytest.raises(FeedbackError, match="asker_hash_salt"):
        FeedbackStore(db_settings(feedback={"hash_askers": True, "asker_hash_salt": "   "}))
    settings = db_settings(feedback={"hash_askers": True, "asker_hash_salt": "s3cret-salt"})
    store = FeedbackStore(settings)
    settings.feedback.asker_hash_salt = ""  # changed after the store was made: still refused
    with pytest.raises(FeedbackError, match="asker_hash_salt"):
        store.user_key("U1")
