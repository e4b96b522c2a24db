"""The retrieval-model registry: trained embedding models and rerankers, versioned and gated like adapters.

Versions are immutable directories under ``<data_dir>/retrieval/<id>`` (``emb-vN`` a sentence-transformers
embedding model, ``rr-vN`` a cross-encoder), registered as candidates with their lineage; the gate's report is
stored on the version. One version per kind is in production (none = the packaged embedding model / the
configured reranker). Only a version whose gate passed is promoted, unless forced (audited as forced).

Promoting an embedding model re-embeds the knowledge collection into a collection of its own (unless the gate
already did) and switches the live alias (``engine.rag.collections``); retrievers follow within
``rag.models_refresh_s``. Promoting a reranker changes the production row only: retrievers load it into memory at
their next refresh. Rollback goes back to the version before the latest promotion (the old collection is kept
for ``rag.collection_retention_days``; after that a rollback re-embeds).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from engine.db import session_factory
from engine.errors import RegistryError
from engine.logs import get_logger
from engine.rag import collections
from engine.rag.embedder import Embedder
from engine.rag.rerank import CrossEncoderReranker, Reranker, make_reranker
from engine.rag.weaviate_client import WeaviateStore
from engine.registry import walk_back
from engine.registry_models import AuditEntry
from engine.retrieval_models import EMBEDDER, KINDS, PREFIX, RERANKER, RetrievalChange, RetrievalProduction, \
    RetrievalVersion
from engine.settings import Settings
from engine.timeutil import utcnow

log = get_logger(__name__)
PACKAGED = "packaged"  # how the CLI and reports name "no trained version"


def kind_of(version_id: str) -> str:
    """The kind of a version id (``emb-v3`` → embedder)."""
    for kind, prefix in PREFIX.items():
        if version_id.startswith(prefix + "-v"):
            return kind
    raise RegistryError(f"not a retrieval model version: {version_id!r} (emb-vN or rr-vN)")


def load_embedder(settings: Settings, version: RetrievalVersion | None) -> Embedder:
    """The embedding model of a version (None = the packaged/configured one)."""
    rag = settings.rag if version is None else settings.rag.model_copy(update={"embedding_model": version.path})
    return Embedder(rag)


def load_reranker(settings: Settings, version: RetrievalVersion | None) -> Reranker:
    """The reranker of a version (None = the configured cross-encoder or the fallback)."""
    return make_reranker(settings.rag) if version is None else CrossEncoderReranker(version.path)


class RetrievalRegistry:
    """Durable retrieval-model versions and which one serves (the database)."""

    def __init__(self, settings: Settings, sessions: sessionmaker | None = None) -> None:
        self.settings = settings
        self.sessions = sessions or session_factory(settings.db_url)
        self.last_build: dict[str, Any] | None = None  # what the latest embedder switch re-embedded

    # --- reading -------------------------------------------------------------------------------------
    def versions(self, kind: str | None = None) -> list[RetrievalVersion]:
        q = select(RetrievalVersion).order_by(RetrievalVersion.kind, RetrievalVersion.seq)
        with self.sessions() as s:
            return list(s.scalars(q if kind is None else q.where(RetrievalVersion.kind == kind)))

    def get(self, version_id: str) -> RetrievalVersion:
        with self.sessions() as s:
            version = s.get(RetrievalVersion, version_id)
        if version is None:
            raise RegistryError(f"unknown retrieval model version {version_id!r}",
                                hint="`ratchet retrieval list` shows them")
        return version

    def get_or_none(self, version_id: str | None) -> RetrievalVersion | None:
        return None if version_id is None else self.get(version_id)

    def production(self, kind: str) -> str | None:
        """The version in service for ``kind`` (None = packaged/configured)."""
        with self.sessions() as s:
            row = s.get(RetrievalProduction, kind)
        return row.version_id if row else None

    # --- registering ---------------------------------------------------------------------------------
    def register(self, path: Path, *, kind: str, base_model: str, dataset_snapshot_id: str | None = None,
                 hyperparameters: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None,
                 notes: str | None = None) -> RetrievalVersion:
        """Move a trained model directory into the registry as the next version of ``kind`` (a candidate)."""
        if kind not in KINDS:
            raise RegistryError(f"unknown retrieval model kind {kind!r}")
        if not (Path(path) / "config.json").is_file():
            raise RegistryError(f"{path} is not a saved model directory (no config.json)")
        root = self.settings.retrieval_models_dir
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=root))
        try:
            shutil.move(str(path), staging / "model")
            with self.sessions.begin() as s:
                seq = (s.scalar(select(func.max(RetrievalVersion.seq)).where(RetrievalVersion.kind == kind)) or 0) + 1
                version_id = f"{PREFIX[kind]}-v{seq}"
                dest = root / version_id
                version = RetrievalVersion(
                    id=version_id, kind=kind, seq=seq, path=str(dest), base_model=base_model, created_at=utcnow(),
                    status="candidate", parent_version=self.production(kind), dataset_snapshot_id=dataset_snapshot_id,
                    hyperparameters=hyperparameters or {}, metrics=metrics or {}, notes=notes)
                s.add(version)
                s.flush()
                if dest.exists():
                    shutil.rmtree(dest)  # an orphan of a crash before a commit
                (staging / "model").rename(dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        log.info("retrieval.registered", version=version_id, kind=kind)
        return version

    def set_gate_report(self, version_id: str, report: dict[str, Any]) -> None:
        with self.sessions.begin() as s:
            version = s.get(RetrievalVersion, version_id)
            if version is None:
                raise RegistryError(f"unknown retrieval model version {version_id!r}")
            version.gate_report = report

    # --- serving -------------------------------------------------------------------------------------
    def serve_embedder(self, store: WeaviateStore, version: RetrievalVersion | None, *,
                       progress: collections.Progress | None = None) -> dict[str, Any]:
        """Make the knowledge collection serve vectors of ``version``: re-embed if no complete collection of it
        exists, then switch the live alias. Returns the build figures."""
        logical = self.settings.rag.collection
        embedder = load_embedder(self.settings, version)
        found = collections.find(store, logical, version.id if version else None)
        if found is None:
            if version is None:
                raise RegistryError("the packaged model's collection is gone",
                                    hint="promote a trained embedding model, or re-ingest the documents")
            built = collections.build(store, logical, version.id, embedder,
                                      batch=self.settings.rag.reembed_batch_size, progress=progress)
            target = built["collection"]
        else:
            built, target = {"collection": found.name, "chunks": 0, "seconds": 0.0, "reused": True}, found.name
        built["previous"] = collections.switch(store, logical, target, embedder,
                                               batch=self.settings.rag.reembed_batch_size)
        self.last_build = built
        return built

    def promote(self, version_id: str, *, actor: str = "cli", force: bool = False, store: WeaviateStore | None = None,
                progress: collections.Progress | None = None) -> str | None:
        """Put ``version_id`` (or ``packaged:<kind>``) in production; returns the version it replaced."""
        kind = kind_of(version_id)
        version = self.get(version_id)
        passed = bool((version.gate_report or {}).get("passed"))
        if not passed and not force:
            self._audit(actor, f"retrieval.{kind}.promote", version_id, allowed=False, reason="gate not passed")
            raise RegistryError(f"{version_id} has not passed the gate",
                                hint="see its gate report (`ratchet retrieval list`), or pass --force")
        if kind == EMBEDDER:
            self._with_store(store, lambda st: self.serve_embedder(st, version, progress=progress))
        return self._flip(kind, version_id, actor, "promote", forced=force and not passed)

    def rollback(self, kind: str, *, actor: str = "cli", store: WeaviateStore | None = None,
                 progress: collections.Progress | None = None) -> str | None:
        """Go back to the version in production before the latest promotion; returns it (None = packaged)."""
        found, previous = self.rollback_target(kind)
        if not found:
            raise RegistryError(f"nothing to roll back: the {kind} has no earlier version")
        if kind == EMBEDDER:
            target = self.get_or_none(previous)
            self._with_store(store, lambda st: self.serve_embedder(st, target, progress=progress))
        self._flip(kind, previous, actor, "rollback")
        return previous

    def rollback_target(self, kind: str) -> tuple[bool, str | None]:
        """(found, version) a rollback goes to: the history is a stack, rollbacks pop it."""
        with self.sessions() as s:
            rows = list(s.scalars(select(RetrievalChange).where(RetrievalChange.kind == kind)
                                  .order_by(RetrievalChange.id.desc())))
        return walk_back(rows)

    def expire_collections(self, store: WeaviateStore | None = None) -> list[str]:
        """Delete knowledge collections replaced longer ago than the retention period."""
        retention = self.settings.rag.collection_retention_days * 86400
        return self._with_store(store, lambda st: collections.expire(st, self.settings.rag.collection, retention))

    # --- internals -----------------------------------------------------------------------------------
    def _with_store(self, store: WeaviateStore | None, work):
        own = store is None
        store = store or WeaviateStore(self.settings.rag)
        try:
            return work(store)
        finally:
            if own:
                store.close()

    def _flip(self, kind: str, to_version: str | None, actor: str, action: str, forced: bool = False) -> str | None:
        with self.sessions.begin() as s:
            row = s.get(RetrievalProduction, kind)
            if row is None:
                row = RetrievalProduction(kind=kind, version_id=None)
                s.add(row)
            previous = row.version_id
            row.version_id, row.updated_at = to_version, utcnow()
            s.add(RetrievalChange(kind=kind, from_version=previous, to_version=to_version, action=action,
                                  actor=actor, forced=int(forced), at=utcnow()))
            for version in s.scalars(select(RetrievalVersion).where(RetrievalVersion.kind == kind)):
                if version.id == to_version:
                    version.status = "production"
                elif version.status == "production":
                    version.status = "retired"
            s.add(AuditEntry(actor=actor, action=f"retrieval.{kind}.{action}", target=to_version or PACKAGED,
                             allowed=1, detail={"previous": previous, "forced": forced}, at=utcnow()))
        log.info("retrieval.flipped", kind=kind, to=to_version or PACKAGED, previous=previous, action=action)
        return previous

    def _audit(self, actor: str, action: str, target: str, *, allowed: bool, **detail: Any) -> None:
        with self.sessions.begin() as s:
            s.add(AuditEntry(actor=actor, action=action, target=target, allowed=int(allowed), detail=detail,
                             at=utcnow()))


__all__ = ["EMBEDDER", "PACKAGED", "RERANKER", "RetrievalRegistry", "kind_of", "load_embedder", "load_reranker"]
