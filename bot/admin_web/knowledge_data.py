"""The knowledge base for the admin page: collections, document counts, last ingest, stale documents.

Read from Weaviate through ``engine.rag.WeaviateStore``. A document is *stale* when its source is a local
file whose bytes changed after it was ingested, or that is gone. Re-ingest runs ``engine.rag.ingest_paths`` on a
collection's local sources, once per access-group set, so documents keep their permissions (unchanged
files are skipped by the ingester).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from bot.admin_web.availability import Unavailable
from engine.rag import WeaviateError, WeaviateStore, ingest_paths
from engine.settings import Settings

CHUNK_MARKER = "document_id"  # collections whose objects carry this property hold document chunks
SCAN_PROPERTIES = ["document_id", "source", "content_hash", "ingested_at", "groups"]


@dataclass
class CollectionRow:
    """One (collection, tenant) of the knowledge base."""

    name: str
    tenant: str
    documents: int = 0
    chunks: int = 0
    last_ingest: datetime | None = None
    stale: list[str] = field(default_factory=list)
    sources: dict[tuple[str, ...], set[str]] = field(default_factory=dict)  # groups -> local sources


def is_stale(source: str, content_hash: str | None) -> bool:
    """True if ``source`` is a local file that is gone or whose bytes differ from the ingested copy."""
    if "://" in source:
        return False
    path = Path(source)
    if not path.is_file():
        return True
    return hashlib.sha256(path.read_bytes()).hexdigest() != content_hash


def _scan(store: WeaviateStore, name: str, tenant: str) -> CollectionRow:
    row = CollectionRow(name, tenant)
    docs: dict[str, tuple[str, str | None, tuple[str, ...]]] = {}
    latest = 0.0
    handle = store.client.collections.get(name).with_tenant(tenant)
    for obj in handle.iterator(return_properties=SCAN_PROPERTIES):
        props = obj.properties
        row.chunks += 1
        latest = max(latest, float(props.get("ingested_at") or 0))
        docs[props["document_id"]] = (props.get("source") or "", props.get("content_hash"),
                                      tuple(sorted(props.get("groups") or [])))
    row.documents = len(docs)
    row.last_ingest = datetime.fromtimestamp(latest, tz=timezone.utc) if latest else None
    sources: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for source, content_hash, groups in docs.values():
        if is_stale(source, content_hash):
            row.stale.append(source)
        if "://" not in source and Path(source).exists():
            sources[groups].add(source)
    row.stale.sort()
    row.sources = dict(sources)
    return row


def scan_knowledge(settings: Settings) -> list[CollectionRow]:
    """Every chunk collection and tenant with its counts (raises WeaviateError when unreachable)."""
    store = WeaviateStore(settings.rag)
    try:
        rows = []
        for name, config in sorted(store.client.collections.list_all(simple=True).items()):
            if CHUNK_MARKER not in {p.name for p in config.properties}:
                continue
            tenants = store.client.collections.get(name).tenants.get()
            rows.extend(_scan(store, name, tenant) for tenant in sorted(tenants))
        return rows
    finally:
        store.close()


def knowledge_overview(settings: Settings) -> dict | Unavailable:
    """{'collections': [CollectionRow]} or why Weaviate cannot be read."""
    try:
        return {"collections": scan_knowledge(settings)}
    except (WeaviateError, OSError) as exc:
        return Unavailable("knowledge", f"Weaviate cannot be read ({exc})")


def _reingest_sync(settings: Settings, collection: str, tenant: str) -> str:
    rows = [r for r in scan_knowledge(settings) if (r.name, r.tenant) == (collection, tenant)]
    if not rows:
        raise ValueError(f"no collection {collection!r} with tenant {tenant!r}")
    if not rows[0].sources:
        raise ValueError(f"{collection}/{tenant} has no local source files left to re-ingest")
    counts: dict[str, int] = defaultdict(int)
    for groups, sources in rows[0].sources.items():
        summary = ingest_paths(settings, sorted(sources), collection=collection, tenant=tenant,
                               acl=list(groups), show_progress=False)
        for status, n in summary.counts().items():
            counts[status] += n
    done = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    return f"re-ingested {collection}/{tenant}: {done}"


async def reingest(settings: Settings, collection: str, tenant: str) -> str:
    """Re-ingest the local sources of one collection/tenant (keeping their groups); a one-line notice."""
    try:
        return await asyncio.to_thread(_reingest_sync, settings, collection, tenant)
    except WeaviateError as exc:
        raise ValueError(str(exc)) from exc
