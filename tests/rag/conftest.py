"""Fixtures for RAG tests: settings on the session's real Weaviate with collections unique to each test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.rag.weaviate_client import WeaviateStore
from engine.settings import Settings


def _unique_rag(endpoint: dict) -> dict:
    tag = uuid.uuid4().hex[:10]
    return {
        "weaviate_url": endpoint["url"], "weaviate_host": endpoint["host"],
        "weaviate_http_port": endpoint["http_port"], "weaviate_grpc_port": endpoint["grpc_port"],
        "collection": f"TestKb{tag}", "cache_collection": f"TestCache{tag}",
    }


def _drop(settings: Settings, extra: tuple[str, ...] = ()) -> None:
    store = WeaviateStore(settings.rag)
    try:
        for name in (settings.rag.collection, settings.rag.cache_collection, *extra):
            store.drop(name)
    finally:
        store.close()


@pytest.fixture
def rag_settings(weaviate_endpoint: dict, tmp_path: Path) -> Iterator[Settings]:
    """Settings on the real Weaviate; this test's collections are deleted afterwards."""
    settings = Settings(data_dir=tmp_path / "data", rag=_unique_rag(weaviate_endpoint))
    yield settings
    _drop(settings, extra=(f"{settings.rag.collection}Other",))


@pytest.fixture(scope="module")
def module_rag_settings(weaviate_endpoint: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Like ``rag_settings`` but shared by a module (ingest once, query many times)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("rag"), rag=_unique_rag(weaviate_endpoint))
    yield settings
    _drop(settings)
