"""Ingestion: files/folders/URLs → documents → chunks → embeddings → Weaviate, incrementally.

A document's identity is its source (path or URL); its version is a hash of its bytes, access groups,
chunking parameters and :data:`READER_VERSION` (how Ratchet reads and chunks documents: a new reader
re-reads every document on the next ingest). An unchanged version is skipped. A new version is written under its own
``doc_version`` first; only when every chunk is in does the old version get deleted (on a failed
insert the partial new version is deleted instead) — so a document's chunks appear all or none.
Embedding of the next wave overlaps with the Weaviate insert of the previous one. Chunks go to the collection
the live alias points at, embedded by its model, and also to any collection being re-embedded for a new model
(``engine.rag.collections.shadows``), embedded by that one's.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from weaviate.classes.data import DataObject
from weaviate.classes.query import Filter
from weaviate.collections import Collection
from weaviate.exceptions import WeaviateBaseError

from engine.logs import get_logger
from engine.rag.chunking import Chunk, chunk_sections
from engine.rag import collections
from engine.rag.embedder import Embedder
from engine.rag.live import LiveModels
from engine.rag.loaders import LoadedDocument, LoadError, is_url, load_file, load_url
from engine.rag.types import FileOutcome, IngestSummary
from engine.rag.weaviate_client import WeaviateStore, collection_name, delete_where, tenant_name
from engine.settings import Settings

log = get_logger(__name__)
DOCUMENT_NAMESPACE = uuid.UUID("5b0c3f0e-8d7a-4c55-9a53-6d3f2f0b7a11")
# Bump when the loaders or the chunker change what a document becomes (2: the HTML reader of real pages,
# main content only, API entries as sections): every document is read again on the next ingest.
READER_VERSION = 2


@dataclass
class PendingDocument:
    """A loaded document whose new version must be written."""

    doc: LoadedDocument
    document_id: str
    version: str
    chunks: list[Chunk]
    status: str  # added | updated


def embedding_text(title: str, chunk: Chunk) -> str:
    """The text embedded for a chunk: document title, heading path and chunk text."""
    return f"{title}\n{chunk.heading}\n{chunk.text}"


def document_id_for(source: str) -> str:
    """The stable id of the document at ``source`` (same across versions)."""
    return str(uuid.uuid5(DOCUMENT_NAMESPACE, source))


def expand_sources(paths: Iterable[str | Path]) -> tuple[list[str], list[Path], list[FileOutcome]]:
    """Turn arguments into sources (files, URLs), the folders walked (for --prune), and missing paths."""
    sources: list[str] = []
    folders: list[Path] = []
    missing: list[FileOutcome] = []
    for arg in paths:
        text = str(arg)
        if is_url(text):
            sources.append(text)
            continue
        path = Path(text).expanduser()
        if path.is_dir():
            folders.append(path.resolve())
            sources.extend(str(p.resolve()) for p in sorted(path.rglob("*"))
                           if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
        elif path.exists():
            sources.append(str(path.resolve()))
        else:
            missing.append(FileOutcome(text, "failed", message="no such file or directory"))
    return list(dict.fromkeys(sources)), folders, missing


def _where_document(document_id: str, version: str | None = None, same: bool = True) -> Filter:
    where = Filter.by_property("document_id").equal(document_id)
    if version is None:
        return where
    other = Filter.by_property("doc_version")
    return where & (other.equal(version) if same else other.not_equal(version))


def _count(handle: Collection, where: Filter) -> int:
    return handle.aggregate.over_all(filters=where, total_count=True).total_count or 0


class Ingestor:
    """One ingest run into one collection and tenant."""

    def __init__(self, settings: Settings, store: WeaviateStore, *, collection: str | None, tenant: str | None,
                 groups: Sequence[str], show_progress: bool = True) -> None:
        self.rag = settings.rag
        self.settings = settings
        self.store = store
        self.collection = collection_name(collection or self.rag.collection)
        self.tenant = tenant_name(tenant or self.rag.default_tenant)
        self.groups = sorted({g.strip() for g in groups if g.strip()})
        if not self.groups:
            raise ValueError("--acl needs at least one non-empty group name")
        self.show_progress = show_progress
        self.live = LiveModels(settings, store)
        self.physical = self.live.physical(self.collection)  # the collection the live alias points at
        self.tenant_exists = store.has_tenant(self.physical, self.tenant)
        self.handle = store.chunks(self.physical, self.tenant)
        self.changed_documents: list[str] = []
        self._shadows: tuple[float, list[tuple[Collection, Embedder]]] | None = None

    def embedder(self) -> Embedder:
        """The embedding model of the live collection."""
        return self.live.embedder(self.physical)

    def shadows(self) -> list[tuple[Collection, Embedder]]:
        """Collections being re-embedded for a new model (re-read every ``rag.models_refresh_s``): each write
        reaches them too, embedded by their own model."""
        if self._shadows is None or time.monotonic() - self._shadows[0] >= self.rag.models_refresh_s:
            found = [(self.store.chunks(c.name, self.tenant), self.live.embedder_version(c.embedder))
                     for c in collections.shadows(self.store, self.collection) if c.name != self.physical]
            self._shadows = (time.monotonic(), found)
        return self._shadows[1]

    def _write_shadows(self, item: PendingDocument, objects: list[DataObject]) -> None:
        for handle, embedder in self.shadows():
            try:
                vectors = embedder.embed([embedding_text(item.doc.title, c) for c in item.chunks])
                result = handle.data.insert_many([DataObject(uuid=o.uuid, properties=o.properties,
                                                             vector=vectors[i].tolist())
                                                  for i, o in enumerate(objects)])
                if result.has_errors:
                    raise RuntimeError(next(iter(result.errors.values())).message)
                if item.status == "updated":
                    delete_where(handle, _where_document(item.document_id, item.version, same=False))
            except (WeaviateBaseError, RuntimeError) as exc:  # the switch's catch-up copies it later
                log.warning("ingest.shadow_failed", collection=handle.name, source=item.doc.source, error=str(exc))

    # --- planning ------------------------------------------------------------------------------------
    def _version(self, doc: LoadedDocument) -> str:
        key = "|".join([doc.content_hash, ",".join(self.groups), doc.title, str(READER_VERSION),
                        str(self.rag.chunk_target_chars), str(self.rag.chunk_overlap_chars)])
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    def plan(self, source: str) -> PendingDocument | FileOutcome:
        """Load one source and decide: skip (bad), unchanged, or write a new version."""
        try:
            doc = load_url(source, self.rag) if is_url(source) else load_file(Path(source), self.rag)
        except LoadError as exc:
            log.warning("ingest.skip", source=source, reason=str(exc))
            return FileOutcome(source, "skipped", message=str(exc))
        document_id, version = document_id_for(doc.source), self._version(doc)
        chunks = chunk_sections(doc.sections, self.rag.chunk_target_chars, self.rag.chunk_overlap_chars)
        status = "added"
        if self.tenant_exists:
            current = _count(self.handle, _where_document(document_id, version))
            stale = _count(self.handle, _where_document(document_id, version, same=False))
            if current == len(chunks) and stale == 0:
                return FileOutcome(doc.source, "unchanged", chunks=len(chunks))
            status = "updated" if current or stale else "added"
        return PendingDocument(doc, document_id, version, chunks, status)

    # --- writing -------------------------------------------------------------------------------------
    def _objects(self, item: PendingDocument, vectors: np.ndarray) -> list[DataObject]:
        now = time.time()
        doc = item.doc
        return [
            DataObject(
                uuid=uuid.uuid5(DOCUMENT_NAMESPACE, f"{item.document_id}/{item.version}/{chunk.position}"),
                vector=vectors[i].tolist(),
                properties={
                    "text": chunk.text, "title": doc.title, "heading": chunk.heading,
                    "chunk_id": f"{item.document_id}:{item.version[:8]}:{chunk.position}",
                    "document_id": item.document_id, "doc_version": item.version, "source": doc.source,
                    "content_hash": doc.content_hash, "groups": self.groups, "modified": doc.modified,
                    "ingested_at": now, "position": chunk.position,
                },
            )
            for i, chunk in enumerate(item.chunks)
        ]

    def write(self, item: PendingDocument, vectors: np.ndarray) -> FileOutcome:
        """Insert a document's new version, then delete its old one; all or none."""
        objects = self._objects(item, vectors)
        size = self.rag.insert_batch_size
        try:
            for start in range(0, len(objects), size):
                result = self.handle.data.insert_many(objects[start:start + size])
                if result.has_errors:
                    first = next(iter(result.errors.values()))
                    raise RuntimeError(f"{len(result.errors)} chunks rejected: {first.message}")
        except (WeaviateBaseError, RuntimeError) as exc:
            delete_where(self.handle, _where_document(item.document_id, item.version))
            log.error("ingest.failed", source=item.doc.source, error=str(exc))
            return FileOutcome(item.doc.source, "failed", message=f"not written (rolled back): {exc}")
        if item.status == "updated":
            delete_where(self.handle, _where_document(item.document_id, item.version, same=False))
            self.changed_documents.append(item.document_id)
        self._write_shadows(item, objects)
        log.info("ingest.document", source=item.doc.source, status=item.status, chunks=len(objects))
        return FileOutcome(item.doc.source, item.status, chunks=len(objects))

    def write_all(self, pending: list[PendingDocument], embedder: Embedder) -> list[FileOutcome]:
        """Embed in waves (progress bar) while the previous wave is being inserted."""
        total = sum(len(p.chunks) for p in pending)
        outcomes: list[FileOutcome] = []
        futures: list[Future] = []
        columns = (TextColumn("embedding"), BarColumn(), MofNCompleteColumn(), TextColumn("chunks"),
                   TimeRemainingColumn())
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="weaviate-insert") as writer, \
                Progress(*columns, console=Console(stderr=True), disable=not self.show_progress or total == 0,
                         transient=True) as bar:
            task = bar.add_task("embed", total=total)
            for wave in self._waves(pending):
                texts = [embedding_text(p.doc.title, c) for p in wave for c in p.chunks]
                vectors = embedder.embed(texts, on_batch=lambda n: bar.advance(task, n))
                futures.append(writer.submit(self._write_wave, wave, vectors))
            for future in futures:
                outcomes.extend(future.result())
        return outcomes

    def _waves(self, pending: list[PendingDocument]) -> Iterable[list[PendingDocument]]:
        wave: list[PendingDocument] = []
        size = 0
        for item in pending:
            wave.append(item)
            size += len(item.chunks)
            if size >= self.rag.ingest_wave_chunks:
                yield wave
                wave, size = [], 0
        if wave:
            yield wave

    def _write_wave(self, wave: list[PendingDocument], vectors: np.ndarray) -> list[FileOutcome]:
        outcomes, offset = [], 0
        for item in wave:
            outcomes.append(self.write(item, vectors[offset:offset + len(item.chunks)]))
            offset += len(item.chunks)
        return outcomes

    # --- pruning -------------------------------------------------------------------------------------
    def prune(self, folders: list[Path], present: set[str]) -> list[FileOutcome]:
        """Delete documents stored from under ``folders`` whose file no longer exists there."""
        if not folders or not self.tenant_exists:
            return []
        stored: dict[str, str] = {}
        for obj in self.handle.iterator(return_properties=["source", "document_id"]):
            stored.setdefault(obj.properties["source"], obj.properties["document_id"])
        roots = [str(folder) + os.sep for folder in folders]
        outcomes = []
        for source, document_id in sorted(stored.items()):
            if source in present or not source.startswith(tuple(roots)):
                continue
            deleted = delete_where(self.handle, _where_document(document_id))
            for handle, _ in self.shadows():
                delete_where(handle, _where_document(document_id))
            self.changed_documents.append(document_id)
            log.info("ingest.pruned", source=source, chunks=deleted)
            outcomes.append(FileOutcome(source, "deleted", chunks=deleted, message="file gone (--prune)"))
        return outcomes


def ingest_paths(settings: Settings, paths: Sequence[str | Path], *, collection: str | None = None,
                 acl: Sequence[str] | None = None, tenant: str | None = None, prune: bool = False,
                 store: WeaviateStore | None = None, show_progress: bool = True) -> IngestSummary:
    """Ingest files, folders and URLs into a collection/tenant; returns per-file outcomes.

    ``acl``: access groups of these documents (default ``rag.default_acl``, i.e. ``public``).
    ``prune``: delete documents previously ingested from the given folders whose files are gone.
    Cached answers citing a changed or deleted document are invalidated.
    """
    from engine.rag.cache import AnswerCache

    started = time.perf_counter()
    own_store = store is None
    store = store or WeaviateStore(settings.rag)
    try:
        run = Ingestor(settings, store, collection=collection, tenant=tenant,
                       groups=acl or settings.rag.default_acl, show_progress=show_progress)
        sources, folders, outcomes = expand_sources(paths)
        pending: list[PendingDocument] = []
        for source in sources:
            planned = run.plan(source)
            if isinstance(planned, PendingDocument):
                pending.append(planned)
            else:
                outcomes.append(planned)
        if pending:
            outcomes.extend(run.write_all(pending, run.embedder()))
        if prune:
            outcomes.extend(run.prune(folders, present=set(sources)))
        if run.changed_documents:
            AnswerCache(settings, store=store).invalidate(run.changed_documents)
        summary = IngestSummary(run.collection, run.tenant, outcomes, time.perf_counter() - started)
    finally:
        if own_store:
            store.close()
    log.info("ingest.done", collection=summary.collection, tenant=summary.tenant, **summary.counts())
    return summary
