"""Schema creation and migration of Ratchet's collections on the real Weaviate."""

from __future__ import annotations

import pytest
from weaviate.classes.config import Configure

from engine.rag.weaviate_client import CHUNK_PROPERTIES, WeaviateError, WeaviateStore
from engine.settings import Settings


def test_old_collection_gains_missing_properties(rag_settings: Settings) -> None:
    store = WeaviateStore(rag_settings.rag)
    name = rag_settings.rag.collection
    try:
        store.client.collections.create(name, properties=CHUNK_PROPERTIES[:3],
                                        multi_tenancy_config=Configure.multi_tenancy(enabled=True))
        handle = store.chunks(name, "t1")
        have = {p.name for p in handle.config.get().properties}
        assert have == {p.name for p in CHUNK_PROPERTIES}
        assert handle.tenant == "t1"
    finally:
        store.close()


def test_collection_without_tenants_is_refused(rag_settings: Settings) -> None:
    store = WeaviateStore(rag_settings.rag)
    name = f"{rag_settings.rag.collection}Other"
    try:
        store.client.collections.create(name, properties=CHUNK_PROPERTIES)
        with pytest.raises(WeaviateError, match="without multi-tenancy"):
            store.chunks(name)
    finally:
        store.close()


def test_unreachable_weaviate_says_what_to_do(rag_settings: Settings) -> None:
    rag = rag_settings.rag.model_copy(update={"weaviate_url": "http://127.0.0.1:9", "weaviate_grpc_port": 10})
    with pytest.raises(WeaviateError, match="cannot connect to Weaviate at http://127.0.0.1:9"):
        WeaviateStore(rag).client
