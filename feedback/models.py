"""Tables of the learning loop: answers, current votes, vote history, training runs, the training lock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base
from engine.timeutil import utcnow


class Answer(Base):
    """One answer the bot gave, with everything needed to train on it later."""

    __tablename__ = "feedback_answers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    question: Mapped[str] = mapped_column(Text)
    question_key: Mapped[str] = mapped_column(String(64), index=True)
    standalone_query: Mapped[str | None] = mapped_column(Text, nullable=True)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    chunk_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    chunk_hashes: Mapped[list[str]] = mapped_column(JSON, default=list)
    prompt: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    answer: Mapped[str] = mapped_column(Text)
    adapter_version: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    alias: Mapped[str | None] = mapped_column(String(32), nullable=True)
    sampling: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    guardrails: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    timings_ms: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    source: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str | None] = mapped_column(String(64), nullable=True)
    thread_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    user: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    refused: Mapped[bool] = mapped_column(Boolean, default=False)
    refusal_rail: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # preference links: a regenerated alternative / a correction points at the answer it competes with
    alternative_of: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    correction_of: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)

    __table_args__ = (Index("ix_feedback_answers_message", "channel", "ts"),)


class Vote(Base):
    """The current vote of one user on one answer (+1 / -1); a retracted vote is deleted here."""

    __tablename__ = "feedback_votes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    answer_id: Mapped[str] = mapped_column(String(32), ForeignKey("feedback_answers.id", ondelete="CASCADE"))
    user: Mapped[str] = mapped_column(String(128), index=True)
    value: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)

    __table_args__ = (UniqueConstraint("answer_id", "user", name="uq_feedback_votes_answer_user"),)


class VoteEvent(Base):
    """Every vote action (cast, replace, retract), kept as history."""

    __tablename__ = "feedback_vote_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    answer_id: Mapped[str] = mapped_column(String(32), ForeignKey("feedback_answers.id", ondelete="CASCADE"),
                                           index=True)
    user: Mapped[str] = mapped_column(String(128), index=True)
    value: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class PendingVote(Base):
    """A vote on a bot message whose answer is not recorded yet (the answer was still streaming); applied, in
    order, when the answer is attached to the message."""

    __tablename__ = "feedback_pending_votes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(64))
    ts: Mapped[str] = mapped_column(String(32))
    user: Mapped[str] = mapped_column(String(128))  # as given (hashed, if at all, when applied)
    value: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_feedback_pending_votes_message", "channel", "ts"),)


class TrainingRun(Base):
    """One training attempt and how it ended."""

    __tablename__ = "feedback_training_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    trigger: Mapped[str] = mapped_column(String(32))
    method: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))  # running | succeeded | failed | skipped
    labelled_examples: Mapped[int] = mapped_column(Integer, default=0)
    version_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class TrainingLock(Base):
    """At most one row: the training in progress (PID, host, heartbeat). Stale rows are taken over."""

    __tablename__ = "feedback_training_lock"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    pid: Mapped[int] = mapped_column(Integer)
    host: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
