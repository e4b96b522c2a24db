"""deploy/adapter_sync.py against the real vLLM: a restarted replica gets the aliased versions back."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from engine.adapter_factory import make_random_adapter
from engine.llm_client import LLMClient
from engine.process import free_port
from engine.registry import AdapterRegistry

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "adapter_sync.py"


def load_script():
    spec = importlib.util.spec_from_file_location("adapter_sync", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def adapter(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_random_adapter(model_dir, tmp_path_factory.mktemp("sync") / "a", rank=4, seed=901, scale=0.08)


async def test_a_replica_that_lost_its_adapters_gets_them_back(engine_settings, adapter, tmp_path) -> None:
    sync = load_script()
    ready = tmp_path / "synced"
    registry = AdapterRegistry(engine_settings)
    version = registry.register(adapter)
    async with LLMClient.from_settings(engine_settings.engine) as client:
        await registry.promote(version.id, client, actor="test")
        assert await sync.sync_once(engine_settings, ready) == "ok" and ready.exists()
        await client.unload_adapter(version.id)  # what a vLLM restart looks like to Ratchet
        assert version.id not in await client.served()
        assert await sync.sync_once(engine_settings, ready) == "synced"
        assert version.id in await client.served()
        gen = await client.chat([{"role": "user", "content": "Hi"}], model=version.id, max_tokens=4)
        assert gen.text is not None


async def test_an_unreachable_replica_is_not_ready(make_settings, tmp_path) -> None:
    sync = load_script()
    ready = tmp_path / "synced"
    ready.touch()
    settings = make_settings(engine={"vllm_url": f"http://127.0.0.1:{free_port()}", "connect_retries": 1})
    assert await sync.sync_once(settings, ready) == "down"
    assert not ready.exists()
