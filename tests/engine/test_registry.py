"""Adapter registry against the real vLLM: promote, rollback, canary, restart, bad input, max-loras."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from engine.llm_client import LLMClient
from engine.registry import AdapterRegistry, RegistryError

QUESTION = [{"role": "user", "content": "Describe the sea in one sentence."}]


async def answer(client: LLMClient, model: str, max_tokens: int = 10) -> str:
    gen = await client.chat(QUESTION, model=model, max_tokens=max_tokens, temperature=0.0, ignore_eos=True)
    return gen.text


@pytest.fixture
async def client(engine_settings):
    async with LLMClient.from_settings(engine_settings.engine) as c:
        yield c


async def test_promote_serves_the_adapter_and_rollback_restores(engine_settings, client, random_adapters) -> None:
    reg = AdapterRegistry(engine_settings)
    base = await answer(client, reg.route("t1").model)
    v1 = reg.register(random_adapters[0])
    v2 = reg.register(random_adapters[1])
    assert (v1.id, v2.id) == ("ratchet-v1", "ratchet-v2")
    assert reg.route("t1").version_id is None  # nothing promoted yet: base model

    await reg.promote(v1.id, client, actor="tester")
    route = reg.route("t1")
    assert (route.alias, route.version_id, route.model) == ("production", "ratchet-v1", "ratchet-v1")
    out_v1 = await answer(client, route.model)
    assert out_v1 != base, "a random adapter must change the output"

    await reg.promote(v2.id, client, actor="tester")
    assert reg.route("t1").version_id == "ratchet-v2"
    assert {v.id: v.status for v in reg.versions()} == {"ratchet-v1": "retired", "ratchet-v2": "production"}

    start = time.monotonic()
    target = await reg.rollback(client, actor="tester")
    assert time.monotonic() - start < 2.0
    assert target == "ratchet-v1" and reg.route("t1").version_id == "ratchet-v1"
    assert await answer(client, reg.route("t1").model) == out_v1
    await reg.rollback(client, actor="tester")
    assert reg.route("t1").version_id is None
    with pytest.raises(RegistryError, match="nothing to roll back"):
        await reg.rollback(client, actor="tester")
    actions = [e.action for e in reg.audit_log()]
    assert actions.count("production.set") == 2 and actions.count("production.rollback") == 2


async def test_registry_survives_a_process_restart(engine_settings, client, random_adapters) -> None:
    reg = AdapterRegistry(engine_settings)
    v1 = reg.register(random_adapters[0], dataset_snapshot_id="snap-1", hyperparameters={"lr": 1e-6})
    await reg.promote(v1.id, client)
    del reg
    fresh = AdapterRegistry(engine_settings.model_copy())  # a new process sees the same database
    assert fresh.route("x").version_id == "ratchet-v1"
    version = fresh.get("ratchet-v1")
    assert version.dataset_snapshot_id == "snap-1" and version.hyperparameters == {"lr": 1e-6}
    assert Path(version.path).is_dir() and Path(version.path).parent == engine_settings.adapters_dir


async def test_engine_restart_reloads_what_aliases_point_to(engine_settings, client, random_adapters) -> None:
    reg = AdapterRegistry(engine_settings)
    v1, v2 = reg.register(random_adapters[0]), reg.register(random_adapters[1])
    await reg.promote(v1.id, client)
    await reg.set_canary(v2.id, 10, client)
    for name in set(await client.models()) - {engine_settings.engine.served_model_name}:
        await client.unload_adapter(name)  # what a restarted vLLM looks like: no adapters
    loaded = await AdapterRegistry(engine_settings).sync(client)
    assert loaded == ["ratchet-v1", "ratchet-v2"]
    assert {"ratchet-v1", "ratchet-v2"} <= set(await client.models())
    assert (await answer(client, "ratchet-v2")).strip()


async def test_canary_routing_is_sticky_per_thread_and_near_the_percentage(engine_settings, client, random_adapters) -> None:
    reg = AdapterRegistry(engine_settings)
    v1, v2 = reg.register(random_adapters[0]), reg.register(random_adapters[1])
    await reg.promote(v1.id, client)
    await reg.set_canary(v2.id, 25, client)
    routes = [reg.route(f"C123:{i}.000") for i in range(2000)]
    share = sum(r.alias == "canary" for r in routes) / len(routes)
    assert 0.21 < share < 0.29
    assert all(reg.route(f"C123:{i}.000") == routes[i] for i in range(50))  # sticky
    assert {r.version_id for r in routes} == {"ratchet-v1", "ratchet-v2"}
    await reg.set_canary("base", 0, client)
    assert all(reg.route(f"C123:{i}.000").alias == "production" for i in range(200))
    with pytest.raises(RegistryError, match="between 0 and 100"):
        await reg.set_canary(v2.id, 120, client)


def _corrupt(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    (dst / "adapter_model.safetensors").write_bytes(b"\x00garbage" * 10)
    return dst


def _other_base(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    cfg = json.loads((dst / "adapter_config.json").read_text())
    cfg["base_model_name_or_path"] = "meta-llama/Llama-3.1-8B-Instruct"
    (dst / "adapter_config.json").write_text(json.dumps(cfg))
    return dst


def _shape_mismatch(src: Path, dst: Path) -> Path:
    import torch
    from safetensors.torch import load_file, save_file

    shutil.copytree(src, dst)
    tensors = load_file(dst / "adapter_model.safetensors")
    bad = {k: (torch.zeros(v.shape[0], 4096) if "lora_A" in k else v) for k, v in tensors.items()}
    save_file(bad, dst / "adapter_model.safetensors")
    return dst


@pytest.mark.parametrize(
    ("make_bad", "message"),
    [
        (lambda src, dst: dst, "not found"),
        (lambda src, dst: (shutil.copytree(src, dst), (dst / "adapter_config.json").unlink(), dst)[-1],
         "adapter_config.json missing"),
        (lambda src, dst: (shutil.copytree(src, dst), (dst / "adapter_config.json").write_text("{oops"), dst)[-1],
         "not valid JSON"),
        (_corrupt, "corrupt"),
        (_other_base, "trained for base model"),
        (_shape_mismatch, "does not fit the base model"),
    ],
    ids=["missing-dir", "missing-config", "bad-json", "corrupt-weights", "other-base-name", "other-base-shapes"],
)
async def test_bad_adapters_are_rejected_and_change_nothing(
    engine_settings, client, random_adapters, tmp_path, make_bad, message
) -> None:
    reg = AdapterRegistry(engine_settings)
    good = reg.register(random_adapters[0])
    await reg.promote(good.id, client)
    before = await answer(client, reg.route("t").model)
    bad_dir = make_bad(random_adapters[1], tmp_path / "bad")
    with pytest.raises(ValueError, match=message):
        reg.register(bad_dir)
    assert [v.id for v in reg.versions()] == ["ratchet-v1"]
    assert reg.route("t").version_id == "ratchet-v1"
    assert await answer(client, reg.route("t").model) == before  # serving unaffected


async def test_rank_above_server_max_and_unknown_versions_are_refused(
    engine_settings, client, model_dir, tmp_path
) -> None:
    from engine.adapter_factory import make_random_adapter

    reg = AdapterRegistry(engine_settings)
    big = make_random_adapter(model_dir, tmp_path / "r32", rank=32, seed=7)
    with pytest.raises(ValueError, match="exceeds the server's --max-lora-rank 16"):
        reg.register(big)
    with pytest.raises(RegistryError, match="unknown adapter version 'ratchet-v9'"):
        await reg.promote("ratchet-v9", client)
    with pytest.raises(RegistryError, match="unknown alias"):
        await reg.promote("base", client, alias="staging")
    assert reg.versions() == [] and reg.route("t").version_id is None


async def test_promote_refuses_a_version_whose_files_were_damaged(engine_settings, client, random_adapters) -> None:
    reg = AdapterRegistry(engine_settings)
    v1, v2 = reg.register(random_adapters[0]), reg.register(random_adapters[1])
    await reg.promote(v1.id, client)
    (Path(v2.path) / "adapter_model.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(RegistryError, match="ratchet-v2 cannot be served"):
        await reg.promote(v2.id, client)
    assert reg.route("t").version_id == "ratchet-v1"


async def test_never_more_adapters_loaded_than_max_loras(engine_settings, client, random_adapters) -> None:
    reg = AdapterRegistry(engine_settings)
    versions = [reg.register(p) for p in random_adapters]
    for v in versions:  # six promotions through a server that allows four adapters
        await reg.promote(v.id, client)
        served = set(await client.models()) - {engine_settings.engine.served_model_name}
        assert len(served) <= engine_settings.engine.max_loras
        assert v.id in served
    # the rollback target stays loaded so rollback is instant
    assert {"ratchet-v5", "ratchet-v6"} <= set(await client.models())


async def test_promotion_loads_on_every_replica_before_the_flip(make_settings, vllm_url, client, random_adapters) -> None:
    from engine.process import free_port

    alias_url = vllm_url.replace("127.0.0.1", "localhost")  # the same server under a second address
    settings = make_settings(engine={"vllm_url": vllm_url, "replica_urls": [vllm_url, alias_url]})
    reg = AdapterRegistry(settings)
    v1 = reg.register(random_adapters[0])
    await reg.promote(v1.id, client)
    assert reg.route("t").version_id == "ratchet-v1"

    down = f"http://127.0.0.1:{free_port()}"
    settings_down = make_settings(engine={"vllm_url": vllm_url, "replica_urls": [vllm_url, down],
                                          "connect_retries": 0})
    reg_down = AdapterRegistry(settings_down)
    v2 = reg_down.register(random_adapters[1])
    with pytest.raises(RegistryError, match=f"vLLM at {down} refused to load ratchet-v2"):
        await reg_down.promote(v2.id, client)
    assert reg_down.route("t").version_id == "ratchet-v1"  # a replica that cannot load blocks the flip


async def test_replicas_are_discovered_from_a_service_name(make_settings, vllm_url, client, random_adapters) -> None:
    from engine.replicas import replica_urls

    port = vllm_url.rsplit(":", 1)[1]
    settings = make_settings(engine={"vllm_url": vllm_url, "replica_discovery": f"localhost:{port}"})
    assert replica_urls(settings.engine) == [f"http://127.0.0.1:{port}"]
    reg = AdapterRegistry(settings)
    v1 = reg.register(random_adapters[0])
    await reg.promote(v1.id, client)
    assert reg.route("t").version_id == "ratchet-v1"

    broken = make_settings(engine={"vllm_url": vllm_url, "replica_discovery": "no-such-service.invalid:8000"})
    reg_broken = AdapterRegistry(broken)
    v2 = reg_broken.register(random_adapters[1])
    with pytest.raises(RegistryError, match="cannot discover vLLM replicas from 'no-such-service.invalid:8000'"):
        await reg_broken.promote(v2.id, client)
    assert reg_broken.route("t").version_id == "ratchet-v1"
