"""Tables of the adapter registry: versions, aliases, alias history, admin audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base
from engine.timeutil import utcnow

CANDIDATE, PRODUCTION, CANARY, RETIRED = "candidate", "production", "canary", "retired"
STATUSES = (CANDIDATE, PRODUCTION, CANARY, RETIRED)


class AdapterVersion(Base):
    """One immutable LoRA adapter version (``ratchet-vN``)."""

    __tablename__ = "adapter_versions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    path: Mapped[str] = mapped_column(Text)
    base_model: Mapped[str] = mapped_column(Text)
    rank: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default=CANDIDATE)
    parent_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    dataset_snapshot_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    gate_report: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)


class Alias(Base):
    """A name (``production``, ``canary``) pointing at a version (None = the base model)."""

    __tablename__ = "adapter_aliases"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    version_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("adapter_versions.id"), nullable=True
    )
    percent: Mapped[float] = mapped_column(Float, default=100.0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AliasChange(Base):
    """History of alias flips; rollback walks it backwards."""

    __tablename__ = "adapter_alias_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alias: Mapped[str] = mapped_column(String(32))
    from_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    to_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEntry(Base):
    """Every admin action, from Slack, the CLI or the admin page."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(128), nullable=True)
    allowed: Mapped[int] = mapped_column(Integer, default=1)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
