"""Fixtures for the admin page: a real uvicorn server on a free loopback port, random adapters, Chromium."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import uvicorn

from bot.admin_web import create_app
from engine.adapter_factory import make_random_adapter
from engine.process import free_port, http_ok
from engine.settings import Settings

ADMIN_TOKEN = "test-admin-token-0123456789"
CHROMIUM = os.environ.get("RATCHET_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "admin"


@pytest.fixture(scope="session")
def admin_adapters(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two small random LoRA adapters (rank 4) to register and promote."""
    root = tmp_path_factory.mktemp("admin-adapters")
    return [make_random_adapter(model_dir, root / f"a{i}", rank=4, seed=700 + i, scale=0.08) for i in range(2)]


@pytest.fixture
def admin_settings(make_settings, vllm_url: str) -> Settings:
    """Settings on the real vLLM with a fresh data dir and database, and an admin token."""
    return make_settings(engine={"vllm_url": vllm_url}, admin={"admin_token": ADMIN_TOKEN})


def serve(settings: Settings) -> Iterator[str]:
    """Run the admin app in a background thread; yield its base URL; stop it afterwards."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not http_ok(f"{url}/healthz"):
        assert time.monotonic() < deadline, "admin server did not start"
        time.sleep(0.1)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


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
        try:
            yield page
        finally:
            await browser.close()
