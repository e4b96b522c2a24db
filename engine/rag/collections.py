"""Knowledge collections that follow the embedding model: one Weaviate collection per model, an alias for the live one.

A new embedding model means new vectors. Its chunks are re-embedded into a collection of their own
(``<Name>_<version>``, e.g. ``Documents_emb_v3``) while the old one keeps serving; the switch is one Weaviate
alias update (``<Name>Live`` → the new collection), and the old collection stays for a rollback until
``rag.collection_retention_days`` have passed. A collection created before any of this (named ``<Name>``
itself, embedded with the packaged model) is served while no alias exists.

Each collection says what it holds in its Weaviate description (JSON): the logical name, the embedding model
version (``null`` = the packaged one), its state and since when:

- ``building`` — being re-embedded; ``ready`` — complete, not served yet (both also receive every ingest:
  :func:`shadows`); ``live`` — the alias points at it; ``previous`` — replaced, kept for rollback.

Retrievers resolve the alias themselves (:func:`resolve`, cached by ``engine.rag.live``) and embed the query
with the model of the collection they search, so a query vector always matches the vectors it is compared to.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from weaviate.classes.data import DataObject
from weaviate.classes.query import Filter
from weaviate.collections import Collection

from engine.logs import get_logger
from engine.rag.chunking import Chunk
from engine.rag.embedder import Embedder
from engine.rag.weaviate_client import CHUNK_PROPERTIES, WeaviateError, WeaviateStore, _ensure, collection_name

log = get_logger(__name__)

BUILDING, READY, LIVE, PREVIOUS = "building", "ready", "live", "previous"
SHADOW_STATES = (BUILDING, READY)
Progress = Callable[[int, int], None]  # (chunks done, total)


@dataclass(frozen=True)
class PhysicalCollection:
    """One Weaviate collection of a logical knowledge collection."""

    name: str
    logical: str
    embedder: str | None  # embedding model version; None = the packaged (configured) model
    state: str
    since: float


def alias_name(logical: str) -> str:
    """The Weaviate alias naming the collection in service."""
    return collection_name(logical) + "Live"


def physical_name(logical: str, embedder: str) -> str:
    """The collection holding ``logical``'s chunks embedded by model version ``embedder``."""
    return collection_name(logical) + "_" + embedder.replace("-", "_")


def chunk_text(properties: dict) -> str:
    """The text embedded for a stored chunk (the same as at ingest)."""
    from engine.rag.ingest import embedding_text

    return embedding_text(properties.get("title", ""), Chunk(0, properties.get("heading", ""), properties["text"]))


def _describe(store: WeaviateStore, info: PhysicalCollection) -> None:
    store.client.collections.get(info.name).config.update(description=json.dumps({
        "ratchet": "chunks", "logical": info.logical, "embedder": info.embedder, "state": info.state,
        "since": info.since}))


def _parse(name: str, description: str | None) -> PhysicalCollection:
    try:
        meta = json.loads(description or "")
    except ValueError:
        meta = None
    if isinstance(meta, dict) and meta.get("ratchet") == "chunks":
        return PhysicalCollection(name, meta.get("logical", name), meta.get("embedder"), meta.get("state", LIVE),
                                  float(meta.get("since") or 0.0))
    return PhysicalCollection(name, name, None, LIVE, 0.0)  # made before collections followed the model


def physical_collections(store: WeaviateStore, logical: str) -> list[PhysicalCollection]:
    """Every collection of ``logical`` (any state), oldest first."""
    logical = collection_name(logical)
    found = [_parse(name, config.description)
             for name, config in store.client.collections.list_all(simple=True).items()]
    return sorted((c for c in found if c.logical == logical), key=lambda c: (c.since, c.name))


def resolve(store: WeaviateStore, logical: str) -> str:
    """The collection that serves ``logical`` now: the alias target, else ``logical`` itself."""
    alias = store.client.alias.get(alias_name=alias_name(logical))
    return alias.collection if alias is not None else collection_name(logical)


def describe(store: WeaviateStore, physical: str) -> PhysicalCollection:
    """What a collection holds (a collection without Ratchet's description: the packaged model's vectors)."""
    return _parse(physical, store.client.collections.get(physical).config.get(simple=True).description)


def shadows(store: WeaviateStore, logical: str) -> list[PhysicalCollection]:
    """Collections being built or waiting for the switch: an ingest writes them too."""
    return [c for c in physical_collections(store, logical) if c.state in SHADOW_STATES]


def _tenants(handle: Collection) -> list[str]:
    return sorted(handle.tenants.get().keys())


def _ids(handle: Collection) -> set[str]:
    return {str(obj.uuid) for obj in handle.iterator(return_properties=["chunk_id"])}


def _copy(objects: list, target: Collection, embedder: Embedder) -> None:
    vectors = embedder.embed([chunk_text(o.properties) for o in objects])
    result = target.data.insert_many([DataObject(uuid=o.uuid, properties=o.properties, vector=vectors[i].tolist())
                                      for i, o in enumerate(objects)])
    if result.has_errors:
        first = next(iter(result.errors.values()))
        raise WeaviateError(f"{len(result.errors)} chunks not re-embedded: {first.message}")


def _reconcile(source: Collection, target: Collection, embedder: Embedder, batch: int) -> tuple[int, int]:
    """Make ``target`` hold exactly ``source``'s objects (an ingest may have raced the copy). Returns (added,
    deleted)."""
    have, want = _ids(target), _ids(source)
    extra, missing = sorted(have - want), sorted(want - have)
    for start in range(0, len(extra), batch):
        target.data.delete_many(where=Filter.by_id().contains_any(extra[start:start + batch]))
    for start in range(0, len(missing), batch):
        ids = missing[start:start + batch]
        objects = source.query.fetch_objects(filters=Filter.by_id().contains_any(ids), limit=len(ids)).objects
        if objects:
            _copy(objects, target, embedder)
    return len(missing), len(extra)


def build(store: WeaviateStore, logical: str, embedder_version: str, embedder: Embedder, *, batch: int = 256,
          progress: Progress | None = None) -> dict[str, Any]:
    """Re-embed every chunk of the live collection of ``logical`` (all tenants) into the model's own collection.

    The live collection keeps serving meanwhile; ingests write both (see :func:`shadows`). A complete build is
    ``ready``; building again a ready one does nothing. Returns what was done (chunks, seconds, per 1k).
    """
    logical = collection_name(logical)
    name = physical_name(logical, embedder_version)
    client = store.client
    if client.collections.exists(name):
        existing = describe(store, name)
        if existing.state != BUILDING and existing.embedder == embedder_version:
            return {"collection": name, "chunks": 0, "seconds": 0.0, "reused": True}
        store.drop(name)  # a build that did not finish
    started = time.perf_counter()
    source_name = resolve(store, logical)
    source = client.collections.get(source_name) if client.collections.exists(source_name) else None
    target = _ensure(client, name, CHUNK_PROPERTIES, multi_tenant=True)
    store._ensured[name] = target
    info = PhysicalCollection(name, logical, embedder_version, BUILDING, time.time())
    _describe(store, info)
    tenants = _tenants(source) if source is not None else []
    total = sum(source.with_tenant(t).aggregate.over_all(total_count=True).total_count or 0 for t in tenants)
    done = 0
    log.info("reembed.start", source=source_name, target=name, chunks=total, tenants=len(tenants))
    for tenant in tenants:
        src, dst = source.with_tenant(tenant), target.with_tenant(tenant)
        pending: list = []
        for obj in src.iterator(return_properties=[p.name for p in CHUNK_PROPERTIES]):
            pending.append(obj)
            if len(pending) >= batch:
                _copy(pending, dst, embedder)
                done += len(pending)
                pending = []
                if progress:
                    progress(done, total)
        if pending:
            _copy(pending, dst, embedder)
            done += len(pending)
            if progress:
                progress(done, total)
        _reconcile(src, dst, embedder, batch)
    _describe(store, PhysicalCollection(name, logical, embedder_version, READY, time.time()))
    seconds = time.perf_counter() - started
    log.info("reembed.done", target=name, chunks=done, seconds=round(seconds, 1))
    return {"collection": name, "chunks": done, "seconds": round(seconds, 2),
            "seconds_per_1k_chunks": round(1000 * seconds / done, 2) if done else None, "reused": False}


def switch(store: WeaviateStore, logical: str, target: str, embedder: Embedder, *, batch: int = 256) -> str:
    """Point the live alias of ``logical`` at ``target`` (after a last catch-up with the live collection); the
    collection served before is kept as ``previous``. Returns its name."""
    logical = collection_name(logical)
    client = store.client
    old = resolve(store, logical)
    if old == target:
        return old
    if not client.collections.exists(target):
        raise WeaviateError(f"collection {target} does not exist; build it first")
    if client.collections.exists(old):
        source, dest = client.collections.get(old), client.collections.get(target)
        for tenant in _tenants(source):
            _reconcile(source.with_tenant(tenant), dest.with_tenant(tenant), embedder, batch)
    alias = alias_name(logical)
    if client.alias.exists(alias_name=alias):
        client.alias.update(alias_name=alias, new_target_collection=target)
    else:
        client.alias.create(alias_name=alias, target_collection=target)
    now = time.time()
    target_info = describe(store, target)
    _describe(store, PhysicalCollection(target, logical, target_info.embedder, LIVE, now))
    if client.collections.exists(old):
        _describe(store, PhysicalCollection(old, logical, describe(store, old).embedder, PREVIOUS, now))
    log.info("collection.switched", logical=logical, to=target, previous=old)
    return old


def find(store: WeaviateStore, logical: str, embedder_version: str | None) -> PhysicalCollection | None:
    """The complete collection of ``logical`` embedded by ``embedder_version`` (None = packaged), if any."""
    for c in physical_collections(store, logical):
        if c.embedder == embedder_version and c.state != BUILDING:
            return c
    return None


def expire(store: WeaviateStore, logical: str, retention_s: float, now: float | None = None) -> list[str]:
    """Delete replaced collections older than ``retention_s`` (never the live one). Returns their names."""
    now = time.time() if now is None else now
    live = resolve(store, logical)
    gone = []
    for c in physical_collections(store, logical):
        if c.state == PREVIOUS and c.name != live and now - c.since >= retention_s:
            store.drop(c.name)
            gone.append(c.name)
            log.info("collection.expired", collection=c.name, logical=c.logical)
    return gone


def chunks_by_id(store: WeaviateStore, logical: str, tenant: str, chunk_ids: list[str],
                 batch: int = 200) -> dict[str, dict]:
    """The stored properties of the chunks with these ids in the live collection (missing ids are left out)."""
    if not chunk_ids:
        return {}
    physical = resolve(store, logical)
    if not store.has_tenant(physical, tenant):
        return {}
    handle = store.chunks(physical, tenant, create=False)
    found: dict[str, dict] = {}
    wanted = sorted(set(chunk_ids))
    for start in range(0, len(wanted), batch):
        part = wanted[start:start + batch]
        result = handle.query.fetch_objects(filters=Filter.by_property("chunk_id").contains_any(part), limit=len(part))
        found.update({o.properties["chunk_id"]: o.properties for o in result.objects})
    return found
