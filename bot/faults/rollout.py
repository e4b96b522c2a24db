"""R4 — the learning loop's states under faults: training killed, a corrupt adapter promoted, a promotion over
two real vLLM replicas where one dies half-way.

* training: ``ratchet train --now`` (a real TRL run in its own process) is killed with SIGKILL after a random
  time, ``kills`` times; then one run must go through. ``partial_versions`` counts registered versions whose
  files are incomplete; the run after the kills must get the lock (the dead holder's is taken over).
* corrupt adapter: a registered version whose weights were damaged on disk is promoted → refused, production
  unchanged.
* replicas: a second vLLM process joins the session's; v1 then v2 are promoted on both, then rolled back
  (``rollback_s``); a promotion of v3 is started and the second replica is killed as soon as the first has
  loaded v3. The promotion must fail with production unchanged and v3 unloaded again from the first replica
  (or, had it finished first, v3 in production) — ``consistent``; the dead replica is restarted, synced from
  the aliases (as ``ratchet up --supervise`` and the adapter-sync sidecar do), and must serve production.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from engine.settings import Settings


def _settings(base: Settings, data_dir: Path, database_url: str | None, **sections: dict[str, Any]) -> Settings:
    dump = base.model_dump(mode="json", exclude={"database_url", "data_dir", "log_file"})
    dump["engine"] = {**dump["engine"], "model_dir": str(base.model_dir)}
    for section, values in sections.items():
        dump[section] = {**dump.get(section, {}), **values}
    return Settings(**dump, data_dir=str(data_dir), database_url=database_url)


async def run_rollout(base: Settings, *, database_url: str | None, kills: int = 2, train_steps: int = 3,
                      seed: int = 4) -> dict[str, Any]:
    """Run R4; returns its JSON line."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="ratchet-faults-r4-") as tmp:
        start = time.monotonic()
        training = await asyncio.to_thread(_killed_trainings, base, Path(tmp) / "train", database_url, rng,
                                           kills=kills, steps=train_steps)
        replicas = await _replicas(base, Path(tmp) / "replicas", rng)
    sent = training["runs"] + replicas["promotions"]
    failed = int(not training["final_run_registered"]) + int(not replicas["consistent"]) \
        + int(not replicas["corrupt_refused"])
    return {"scenario": "R4", "sent": sent, "answered": sent - failed, "lost": failed,
            "duplicated": training["partial_versions"], "leaked": 0, "recover_s": replicas["rollback_s"],
            "training": training, "replicas": replicas, "wall_s": round(time.monotonic() - start, 1)}


# --- training killed ----------------------------------------------------------------------------------------
def _killed_trainings(base: Settings, where: Path, database_url: str | None, rng: random.Random, *, kills: int,
                      steps: int) -> dict[str, Any]:
    from engine.adapter_files import inspect_adapter
    from engine.registry import AdapterRegistry
    from feedback import FeedbackStore
    from feedback.synthetic import seed_pairs

    where.mkdir(parents=True)
    settings = _settings(base, where / "data", database_url,
                         feedback={"heldout_fraction": 0.5, "gate_generation_prompts": 0, "gate_min_heldout": 1,
                                   "auto_canary_percent": 0.0, "training": {"max_steps": steps}})
    seed_pairs(FeedbackStore(settings), 8)
    config = where / "ratchet.yaml"
    config.write_text(yaml.safe_dump(settings.model_dump(mode="json")))
    env = {**os.environ, "RATCHET_CONFIG": str(config), "HF_HUB_OFFLINE": "1"}
    argv = [sys.executable, "-m", "bot.cli", "train", "--now"]
    killed_at: list[float] = []
    full_s = None
    for _ in range(kills):
        begun = time.monotonic()
        with (where / "train.log").open("a") as log:
            proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        delay = rng.uniform(2.0, full_s or 40.0)
        try:
            proc.wait(timeout=delay)
            full_s = time.monotonic() - begun  # it finished before the kill: aim earlier next time
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            killed_at.append(round(delay, 1))
    registry = AdapterRegistry(settings)
    before = [v.id for v in registry.versions()]
    final = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1800)
    after = registry.versions()
    partial = 0
    for version in after:
        try:
            inspect_adapter(Path(version.path), base_model_dir=settings.model_dir,
                            max_rank=settings.engine.max_lora_rank)
        except Exception:  # noqa: BLE001 - any defect of the files counts
            partial += 1
    return {"runs": kills + 1, "killed_after_s": killed_at, "versions_before_final": before,
            "final_run_registered": final.returncode == 0 and len(after) == len(before) + 1,
            "final_run_output": final.stdout.strip().splitlines()[-1:] if final.returncode else [],
            "partial_versions": partial}


# --- replicas --------------------------------------------------------------------------------------------------
async def _replicas(base: Settings, where: Path, rng: random.Random) -> dict[str, Any]:
    from engine.adapter_factory import make_random_adapter
    from engine.llm_client import LLMClient
    from engine.process import free_port
    from engine.vllm_server import vllm_process

    second = _settings(base, where / "second", None, engine={"port": free_port(), "vllm_url": None})
    proc = vllm_process(second)
    await asyncio.to_thread(proc.start)
    urls = [base.engine.base_url, second.engine.base_url]
    settings = _settings(base, where / "data", None, engine={"replica_urls": urls})
    adapters = [make_random_adapter(base.model_dir, where / f"a{i}", rank=4, seed=400 + i, scale=0.05)
                for i in range(4)]
    clients = [LLMClient(u, api_key=base.engine.api_key, timeout_s=120) for u in urls]
    try:
        return await _promotions(settings, adapters, clients, proc, rng)
    finally:
        for client in clients:
            await client.aclose()
        await asyncio.to_thread(proc.stop)


async def _promotions(settings: Settings, adapters: list[Path], clients: list, second, rng) -> dict[str, Any]:
    from engine.errors import RegistryError
    from engine.registry import AdapterRegistry

    registry = AdapterRegistry(settings)
    v1, v2, v3, corrupt = (registry.register(p) for p in adapters)
    first = clients[0]
    await registry.promote(v1.id, first)
    await registry.promote(v2.id, first)
    began = time.perf_counter()
    await registry.rollback(first)
    rollback_s = time.perf_counter() - began
    both_after_rollback = [v1.id in await c.models() for c in clients]

    (Path(corrupt.path) / "adapter_model.safetensors").write_bytes(b"damaged on disk")
    try:
        await registry.promote(corrupt.id, first)
        corrupt_refused = False
    except RegistryError:
        corrupt_refused = registry.route("t").version_id == v1.id

    promotion = asyncio.ensure_future(registry.promote(v3.id, first))
    while not promotion.done() and v3.id not in await first.models():
        await asyncio.sleep(0.02)
    second_pid = second.pid()
    if second_pid is not None:
        os.kill(second_pid, signal.SIGKILL)  # half-way: the first replica has v3, the second dies
    try:
        await promotion
        outcome = "completed"
    except RegistryError:
        outcome = "refused"
    production = registry.route("t").version_id
    on_first = v3.id in await first.models()
    consistent = (outcome == "completed" and production == v3.id) or \
        (outcome == "refused" and production == v1.id and not on_first)
    await asyncio.to_thread(second.start)  # what `ratchet up --supervise` / the adapter-sync sidecar do
    await registry.sync(clients[1])
    second_serves = production in await clients[1].models()
    return {"promotions": 5, "rollback_s": round(rollback_s, 3),
            "loaded_on_both_after_rollback": all(both_after_rollback),
            "corrupt_refused": corrupt_refused, "half_way": outcome, "production": production,
            "v3_left_on_first": on_first, "restarted_replica_serves_production": second_serves,
            "consistent": consistent and second_serves}
