"""Fixtures for the admin page: a real uvicorn server on a free loopback port, random adapters, Chromium."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.testing.admin_server import serve_admin_page
from engine.adapter_factory import make_random_adapter
from engine.rag import WeaviateStore, ingest_paths
from engine.settings import Settings

ADMIN_TOKEN = "test-admin-token-0123456789"
CHROMIUM = os.environ.get("RATCHET_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGE_TIMEOUT_MS = 180_000  # a promotion waits for vLLM to load an adapter; the shared CPU server can be slow
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "admin"


@pytest.fixture(scope="session")
def admin_adapters(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two small random LoRA adapters (rank 4) to register and promote."""
    root = tmp_path_factory.mktemp("admin-adapters")
    return [make_random_adapter(model_dir, root / f"a{i}", rank=4, seed=700 + i, scale=0.08) for i in range(2)]


@pytest.fixture
def admin_settings(make_settings, vllm_url: str, weaviate_endpoint: dict) -> Settings:
    """Settings on the real vLLM and Weaviate with a fresh data dir and database, and an admin token."""
    return make_settings(engine={"vllm_url": vllm_url}, admin={"admin_token": ADMIN_TOKEN}, rag={
        "weaviate_url": weaviate_endpoint["url"], "weaviate_grpc_port": weaviate_endpoint["grpc_port"]})


def serve(settings: Settings) -> Iterator[str]:
    """Run the admin app in a background thread; yield its base URL; stop it afterwards."""
    with serve_admin_page(settings) as url:
        yield url


@pytest.fixture
def admin_url(admin_settings: Settings) -> Iterator[str]:
    """Base URL of a running admin page for ``admin_settings``."""
    yield from serve(admin_settings)


@pytest.fixture
async def browser_page() -> AsyncIterator:
    """A fresh page in Debian's headless Chromium (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (deploy/local/install_test_tools.sh)")
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        try:
            yield page
        finally:
            await browser.close()


@pytest.fixture
def kb_collection(admin_settings, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A fresh collection with two public documents and one for group `hr`; dropped afterwards."""
    name = "AdminKb" + uuid.uuid4().hex[:8]
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "expenses.md").write_text("# Expenses\n\nFile expenses in the portal within 30 days.\n")
    (docs / "travel.md").write_text("# Travel\n\nBook trains through the travel desk.\n")
    (tmp_path / "salaries.md").write_text("# Salaries\n\nSalary bands are reviewed every April.\n")
    ingest_paths(admin_settings, [docs], collection=name, show_progress=False)
    ingest_paths(admin_settings, [tmp_path / "salaries.md"], collection=name, acl=["hr"], show_progress=False)
    yield name, tmp_path
    store = WeaviateStore(admin_settings.rag)
    try:
        store.drop(name)
    finally:
        store.close()
