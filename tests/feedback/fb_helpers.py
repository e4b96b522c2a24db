"""Helpers of the learning-loop tests: a fresh database on the session's PostgreSQL server
(bot/testing/postgres_server.py) and plausible answer records."""

from __future__ import annotations

import uuid

from sqlalchemy import create_engine, text

from feedback import AnswerRecord


def fresh_database(admin_url: str) -> str:
    """Create an empty database on the server; returns its URL."""
    name = "t_" + uuid.uuid4().hex[:12]
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def answer_record(question: str = "How many vacation days do I get?", answer: str = "25 days [1].",
                  **overrides) -> AnswerRecord:
    """A plausible answer record (tests override what they need)."""
    fields = dict(
        question=question, standalone_query=question, history=[], chunk_ids=["doc1#0"],
        chunk_hashes=["abc123"],
        prompt=[{"role": "system", "content": "Answer from the context.\n[1] Vacation: 25 days."},
                {"role": "user", "content": question}],
        answer=answer, adapter_version=None, alias="production", sampling={"temperature": 0.2},
        guardrails={"input": "pass"}, timings_ms={"total": 12.0}, source="cli",
    )
    fields.update(overrides)
    return AnswerRecord(**fields)
