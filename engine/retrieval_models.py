"""Tables of the retrieval-model registry: embedding-model and reranker versions, what serves, and its history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base
from engine.timeutil import utcnow

EMBEDDER, RERANKER = "embedder", "reranker"
KINDS = (EMBEDDER, RERANKER)
PREFIX = {EMBEDDER: "emb", RERANKER: "rr"}


class RetrievalVersion(Base):
    """One immutable trained retrieval model (``emb-vN`` or ``rr-vN``) with its lineage and gate report."""

    __tablename__ = "retrieval_versions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    seq: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)
    base_model: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="candidate")  # candidate | production | retired
    parent_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    dataset_snapshot_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    gate_report: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (UniqueConstraint("kind", "seq", name="uq_retrieval_versions_kind_seq"),)


class RetrievalProduction(Base):
    """The version in service for one kind (no row or None = the packaged embedder / the configured reranker)."""

    __tablename__ = "retrieval_production"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    version_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RetrievalChange(Base):
    """History of promotions and rollbacks; rollback walks it backwards."""

    __tablename__ = "retrieval_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    from_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    to_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(128))
    forced: Mapped[int] = mapped_column(Integer, default=0)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
