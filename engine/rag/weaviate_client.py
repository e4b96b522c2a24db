"""The one module that owns Ratchet's connection to Weaviate (weaviate-client v4).

Connect (a local server by host/ports, or a managed cluster by ``weaviate_url`` + API key), wait for
readiness, create or migrate the collections Ratchet uses, and close. Every other module of
``engine.rag`` gets its ``weaviate.collections.Collection`` handles from here.

Two schemas live here: the chunk collections (one per knowledge collection, multi-tenant: a Weaviate
tenant per workspace/team) and the semantic answer cache (single-tenant; the tenant is a property).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from urllib.parse import urlparse

import weaviate
from weaviate.classes.config import Configure, DataType, Property, Tokenization, VectorDistances
from weaviate.classes.init import AdditionalConfig, Auth, Timeout
from weaviate.collections import Collection
from weaviate.classes.query import Filter
from weaviate.exceptions import WeaviateBaseError

from engine.errors import RatchetError
from engine.logs import get_logger
from engine.settings import RagSettings

log = get_logger(__name__)

_NAME = re.compile(r"^[A-Za-z][_0-9A-Za-z]{0,200}$")
_TENANT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class WeaviateError(RatchetError, RuntimeError):
    """Weaviate could not be reached or refused an operation; the message says what to do."""


def _text(name: str, tokenization: Tokenization = Tokenization.WORD, searchable: bool = True) -> Property:
    return Property(name=name, data_type=DataType.TEXT, tokenization=tokenization,
                    index_searchable=searchable, index_filterable=True)


def _keyword(name: str) -> Property:
    return _text(name, Tokenization.FIELD, searchable=False)


CHUNK_PROPERTIES: list[Property] = [
    _text("text"),
    _text("title"),
    _text("heading"),
    _keyword("chunk_id"),
    _keyword("document_id"),
    _keyword("doc_version"),
    _keyword("source"),
    _keyword("content_hash"),
    Property(name="groups", data_type=DataType.TEXT_ARRAY, tokenization=Tokenization.FIELD,
             index_searchable=False),
    Property(name="modified", data_type=DataType.DATE),
    Property(name="ingested_at", data_type=DataType.NUMBER),
    Property(name="position", data_type=DataType.INT),
]

CACHE_PROPERTIES: list[Property] = [
    _text("question"),
    _text("answer", searchable=False),
    _text("citations_json", searchable=False),
    Property(name="document_ids", data_type=DataType.TEXT_ARRAY, tokenization=Tokenization.FIELD,
             index_searchable=False),
    _keyword("groups_key"),
    _keyword("adapter"),
    _keyword("tenant"),
    Property(name="created_at", data_type=DataType.NUMBER),
]


def collection_name(name: str) -> str:
    """Validate a knowledge collection name and return Weaviate's spelling (first letter upper case)."""
    if not _NAME.match(name or ""):
        raise WeaviateError(
            f"invalid collection name {name!r}: use a letter followed by letters, digits or underscores"
        )
    return name[0].upper() + name[1:]


def tenant_name(tenant: str) -> str:
    """Validate a tenant (workspace/team) name."""
    if not _TENANT.match(tenant or ""):
        raise WeaviateError(f"invalid tenant {tenant!r}: use 1-64 letters, digits, '-' or '_'")
    return tenant


def connect(rag: RagSettings) -> weaviate.WeaviateClient:
    """Open a client: ``weaviate_url`` (https + API key = managed cluster) or the local host/ports."""
    config = AdditionalConfig(timeout=Timeout(init=10, query=60, insert=120))
    auth = Auth.api_key(rag.weaviate_api_key) if rag.weaviate_api_key else None
    url = urlparse(rag.weaviate_url) if rag.weaviate_url else None
    try:
        if url and url.scheme == "https" and url.hostname not in LOOPBACK:
            client = weaviate.connect_to_weaviate_cloud(rag.weaviate_url, auth_credentials=auth,
                                                        additional_config=config)
        else:
            host = (url.hostname if url else None) or rag.weaviate_host
            port = (url.port if url else None) or rag.weaviate_http_port
            secure = bool(url and url.scheme == "https")
            client = weaviate.connect_to_custom(
                http_host=host, http_port=port, http_secure=secure, grpc_host=host,
                grpc_port=rag.weaviate_grpc_port, grpc_secure=secure, auth_credentials=auth,
                additional_config=config,
            )
    except WeaviateBaseError as exc:
        where = rag.weaviate_url or f"{rag.weaviate_host}:{rag.weaviate_http_port}"
        raise WeaviateError(
            f"cannot connect to Weaviate at {where} (gRPC port {rag.weaviate_grpc_port}): {exc}; "
            "is it running (`ratchet up` / `ratchet status`)?"
        ) from exc
    return client


def wait_ready(client: weaviate.WeaviateClient, timeout_s: float) -> None:
    """Block until the server reports ready, or raise ``WeaviateError`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not client.is_ready():
        if time.monotonic() > deadline:
            raise WeaviateError(f"Weaviate not ready after {timeout_s:.0f}s")
        time.sleep(0.5)


def _migrate(collection: Collection, wanted: Sequence[Property], multi_tenant: bool) -> None:
    """Add the properties a collection created by an older Ratchet lacks."""
    config = collection.config.get()
    if multi_tenant and not config.multi_tenancy_config.enabled:
        raise WeaviateError(
            f"collection {collection.name} exists without multi-tenancy; "
            "delete it or ingest into another --collection"
        )
    have = {p.name for p in config.properties}
    for prop in wanted:
        if prop.name not in have:
            log.info("weaviate.migrate", collection=collection.name, added=prop.name)
            collection.config.add_property(prop)


def _ensure(client: weaviate.WeaviateClient, name: str, properties: Sequence[Property],
            multi_tenant: bool) -> Collection:
    if client.collections.exists(name):
        collection = client.collections.get(name)
        _migrate(collection, properties, multi_tenant)
        return collection
    log.info("weaviate.create_collection", collection=name, multi_tenant=multi_tenant)
    try:
        return client.collections.create(
            name,
            properties=list(properties),
            vector_config=Configure.Vectors.self_provided(
                vector_index_config=Configure.VectorIndex.hnsw(distance_metric=VectorDistances.COSINE)
            ),
            inverted_index_config=Configure.inverted_index(index_timestamps=False),
            multi_tenancy_config=Configure.multi_tenancy(
                enabled=True, auto_tenant_creation=True, auto_tenant_activation=True
            ) if multi_tenant else None,
        )
    except WeaviateBaseError as exc:
        if client.collections.exists(name):  # created concurrently by another process
            return client.collections.get(name)
        raise WeaviateError(f"cannot create Weaviate collection {name}: {exc}") from exc


def delete_where(handle: Collection, where: Filter) -> int:
    """Delete every object matching ``where`` (looping past the server's per-call limit)."""
    deleted = 0
    while True:
        result = handle.data.delete_many(where=where)
        deleted += result.successful
        if result.matches == 0 or result.successful == 0:
            return deleted


class WeaviateStore:
    """A connected client plus the collection handles Ratchet needs (lazily connected, closable)."""

    def __init__(self, rag: RagSettings) -> None:
        self.rag = rag
        self._client: weaviate.WeaviateClient | None = None
        self._ensured: dict[str, Collection] = {}

    @property
    def client(self) -> weaviate.WeaviateClient:
        """The open client (connects and waits for readiness on first use)."""
        if self._client is None:
            client = connect(self.rag)
            wait_ready(client, self.rag.weaviate_startup_timeout_s)
            self._client = client
        return self._client

    def chunks(self, collection: str | None = None, tenant: str | None = None,
               create: bool = True) -> Collection | None:
        """The chunk collection (bound to ``tenant``); ``None`` if absent and ``create`` is false."""
        name = collection_name(collection or self.rag.collection)
        handle = self._ensured.get(name)
        if handle is None:
            if not create and not self.client.collections.exists(name):
                return None
            handle = self._ensured[name] = _ensure(self.client, name, CHUNK_PROPERTIES, multi_tenant=True)
        return handle.with_tenant(tenant_name(tenant or self.rag.default_tenant))

    def has_tenant(self, collection: str | None, tenant: str | None) -> bool:
        """Whether the collection exists and holds ``tenant`` (a search of a missing one finds nothing)."""
        name = collection_name(collection or self.rag.collection)
        if not self.client.collections.exists(name):
            return False
        wanted = tenant_name(tenant or self.rag.default_tenant)
        return self.client.collections.get(name).tenants.get_by_name(wanted) is not None

    def cache(self) -> Collection:
        """The semantic answer cache collection."""
        name = collection_name(self.rag.cache_collection)
        if name not in self._ensured:
            self._ensured[name] = _ensure(self.client, name, CACHE_PROPERTIES, multi_tenant=False)
        return self._ensured[name]

    def drop(self, collection: str) -> None:
        """Delete a whole collection (benchmarks and tests clean up with this)."""
        name = collection_name(collection)
        self._ensured.pop(name, None)
        self.client.collections.delete(name)

    def close(self) -> None:
        """Close the connection (safe to call twice)."""
        if self._client is not None:
            self._client.close()
            self._client = None
            self._ensured.clear()
