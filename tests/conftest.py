"""Session-wide fixtures: one real vLLM and one real Weaviate per test session.

Both are started by the fixtures (on free loopback ports, data in a temp dir) the first time a test asks
for them, and stopped at the end. For quick local iterations a developer can point the tests at
services already running: ``RATCHET_TEST_VLLM_URL`` / ``RATCHET_TEST_WEAVIATE_URL`` (loopback only).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("NEMO_GUARDRAILS_NO_USAGE_STATS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

from engine.model_prepare import prepare_model  # noqa: E402
from engine.process import free_port, http_ok  # noqa: E402
from engine.rag.weaviate_server import weaviate_process  # noqa: E402
from engine.settings import Settings  # noqa: E402
from engine.vllm_server import vllm_process  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

# A test that uses one of these fixtures (directly or through another fixture) needs that service: it gets
# the marker automatically, so `pytest -m "not vllm and not weaviate"` runs exactly the fast part.
SERVICE_FIXTURES = {"vllm_url": "vllm", "weaviate_endpoint": "weaviate"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with the services its fixture closure needs (markers written by hand may be wrong)."""
    for item in items:
        for fixture, marker in SERVICE_FIXTURES.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(getattr(pytest.mark, marker))


def _loopback(url: str) -> str:
    host = urlparse(url).hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise pytest.UsageError(f"test services must be on loopback, got {url}")
    return url.rstrip("/")


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The prepared base model (converted once into the repo's data dir, reused afterwards)."""
    configured = os.environ.get("RATCHET_TEST_MODEL_DIR")
    settings = Settings(data_dir=REPO / ".ratchet", engine={"model_dir": configured} if configured else {})
    return prepare_model(settings)


@pytest.fixture(scope="session")
def services_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Data dir of the session's shared services (pid files, logs, Weaviate data)."""
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def vllm_url(model_dir: Path, services_dir: Path) -> Iterator[str]:
    """Base URL of the session's real vLLM server (started here unless RATCHET_TEST_VLLM_URL is set)."""
    reuse = os.environ.get("RATCHET_TEST_VLLM_URL")
    if reuse:
        url = _loopback(reuse)
        assert http_ok(f"{url}/health"), f"RATCHET_TEST_VLLM_URL={url} is not healthy"
        yield url
        return
    settings = Settings(data_dir=services_dir, engine={"model_dir": str(model_dir), "port": free_port()})
    proc = vllm_process(settings)
    proc.start()
    try:
        yield settings.engine.base_url
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def weaviate_endpoint(services_dir: Path) -> Iterator[dict]:
    """{'url', 'host', 'http_port', 'grpc_port'} of the session's real Weaviate server."""
    reuse = os.environ.get("RATCHET_TEST_WEAVIATE_URL")
    if reuse:
        url = _loopback(reuse)
        parsed = urlparse(url)
        grpc = int(os.environ.get("RATCHET_TEST_WEAVIATE_GRPC_PORT", "50051"))
        assert http_ok(f"{url}/v1/.well-known/ready"), f"RATCHET_TEST_WEAVIATE_URL={url} is not ready"
        yield {"url": url, "host": parsed.hostname, "http_port": parsed.port, "grpc_port": grpc}
        return
    http_port = free_port()
    while any(_taken(p) for p in range(http_port + 1, http_port + 5)):
        http_port = free_port()
    settings = Settings(
        data_dir=services_dir,
        rag={"weaviate_http_port": http_port, "weaviate_grpc_port": free_port()},
    )
    proc = weaviate_process(settings)
    proc.start()
    try:
        yield {
            "url": f"http://127.0.0.1:{http_port}",
            "host": "127.0.0.1",
            "http_port": http_port,
            "grpc_port": settings.rag.weaviate_grpc_port,
        }
    finally:
        proc.stop()


def _taken(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """One PostgreSQL server for the session, on a free loopback port (Debian's binaries, which the test command
    installs). Missing binaries fail the tests that need them: a missing service is never a skip."""
    from bot.testing.postgres_server import postgres_bin_dir, postgres_server

    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        pytest.fail("PostgreSQL binaries not found under /usr/lib/postgresql/*/bin: install the 'postgresql' package "
                    "(make test does)")
    with postgres_server(bin_dir) as url:
        yield url


@pytest.fixture
def make_settings(tmp_path: Path, model_dir: Path):
    """Factory: Settings with a fresh data dir (tmp_path) and the prepared model; kwargs override."""

    def make(**overrides) -> Settings:
        engine = {"model_dir": str(model_dir), **overrides.pop("engine", {})}
        # the tests exercise the input self-check machinery with the small model, whose own verdicts are
        # off by default (guardrails.self_check_models): tests that need the default pass it explicitly
        guardrails = {"self_check_models": {}, **overrides.pop("guardrails", {})}
        return Settings(data_dir=overrides.pop("data_dir", tmp_path / "data"), engine=engine,
                        guardrails=guardrails, **overrides)

    return make


@pytest.fixture
def engine_settings(make_settings, vllm_url: str) -> Settings:
    """Settings attached to the session's vLLM, with a fresh data dir and database."""
    return make_settings(engine={"vllm_url": vllm_url})


@pytest.fixture
def weaviate_settings(make_settings, weaviate_endpoint: dict) -> Settings:
    """Settings attached to the session's Weaviate, with a fresh data dir."""
    return make_settings(rag={
        "weaviate_url": weaviate_endpoint["url"],
        "weaviate_host": weaviate_endpoint["host"],
        "weaviate_http_port": weaviate_endpoint["http_port"],
        "weaviate_grpc_port": weaviate_endpoint["grpc_port"],
    })
