"""`ratchet bench engine`: vLLM throughput with LoRA mixes, TTFT, hot swap under load, adapter load time.

The benchmark starts its own vLLM (free loopback port, temporary data dir) so it never disturbs a
serving engine, makes four random adapters, and measures every figure in the same run: ratios compare
numbers taken minutes apart on the same machine, not against a stored baseline.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from engine.adapter_factory import make_random_adapter
from engine.llm_client import LLMClient
from engine.process import free_port
from engine.registry import AdapterRegistry
from engine.settings import Settings
from engine.vllm_server import vllm_process

PROMPT = [{"role": "user", "content": "Explain in a few sentences why the sky is blue."}]
ADAPTERS = 4


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def _throughput(client: LLMClient, models: list[str], max_tokens: int) -> float:
    """Generated tokens per second for all ``models`` requests sent at once."""
    start = time.perf_counter()
    gens = await asyncio.gather(*(
        client.chat(PROMPT, model=m, max_tokens=max_tokens, ignore_eos=True) for m in models
    ))
    return sum(g.completion_tokens or 0 for g in gens) / (time.perf_counter() - start)


async def _ttft(client: LLMClient, model: str, runs: int = 3) -> float:
    values = []
    for _ in range(runs):
        async for delta in client.stream_chat(PROMPT, model=model, max_tokens=8, ignore_eos=True):
            if delta.done and delta.generation.ttft_ms is not None:
                values.append(delta.generation.ttft_ms)
    return statistics.median(values)


async def _load_phase(client: LLMClient, reg: AdapterRegistry, requests: int, concurrency: int,
                      max_tokens: int, during=None) -> tuple[list[float], int]:
    """Stream ``requests`` answers through the routed alias; run ``during`` meanwhile. (latencies, failures)."""
    latencies: list[float] = []
    failures = 0
    queue = list(range(requests))

    async def worker() -> None:
        nonlocal failures
        while queue:
            n = queue.pop()
            start = time.perf_counter()
            try:
                route = reg.route(f"bench-{n}")
                async for _ in client.stream_chat(PROMPT, model=route.model, max_tokens=max_tokens, ignore_eos=True):
                    pass
                latencies.append((time.perf_counter() - start) * 1000)
            except Exception:  # noqa: BLE001 - a failed request is what we count
                failures += 1

    tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
    if during is not None:
        await during()
    await asyncio.gather(*tasks)
    return latencies, failures


async def run_engine_benchmark(settings: Settings, *, requests: int, max_tokens: int,
                               progress: Progress | None = None) -> dict:
    """Measure everything against a running vLLM at ``settings.engine.base_url``; return the figures."""
    task = progress.add_task("engine benchmark", total=6) if progress else None

    def step() -> None:
        if progress is not None:
            progress.advance(task)

    work = Path(tempfile.mkdtemp(prefix="bench-adapters-"))
    paths = [make_random_adapter(settings.model_dir, work / f"a{i}", rank=8, seed=i, scale=0.05)
             for i in range(ADAPTERS)]
    step()
    reg = AdapterRegistry(settings)
    async with LLMClient.from_settings(settings.engine) as client:
        versions = [reg.register(p) for p in paths]
        ids = [v.id for v in versions]
        names = ids[:ADAPTERS - 1]  # a base stand-in adapter (engine.base_adapter) may hold one --max-loras slot
        load_ms = [await client.load_adapter(v.id, v.path) for v in versions[:ADAPTERS - 1]]
        base = settings.engine.served_model_name
        for m in [base, settings.base_model_name, *names]:
            await client.chat(PROMPT, model=m, max_tokens=4)  # warm-up
        step()
        tok_base = await _throughput(client, [base] * requests, max_tokens)
        mix = [names[i % len(names)] if i % 4 else settings.base_model_name for i in range(requests)]
        tok_mix = await _throughput(client, mix, max_tokens)
        step()
        ttft_base = await _ttft(client, base)
        ttft_adapter = await _ttft(client, names[0])
        step()
        for vid in names:
            await client.unload_adapter(vid)
        await reg.promote(ids[0], client, actor="bench")
        before, fail_before = await _load_phase(client, reg, requests, 4, max_tokens)
        step()

        async def swaps() -> None:
            await asyncio.sleep(0.2)
            for vid in ids[1:]:
                await reg.promote(vid, client, actor="bench")
                await asyncio.sleep(0.3)

        during, fail_during = await _load_phase(client, reg, requests, 4, max_tokens, during=swaps)
        step()
    return {
        "bench": "engine",
        "lora_mix_ratio": round(tok_mix / tok_base, 3),
        "p99_ratio_during_swap": round(_p(during, 0.99) / _p(before, 0.99), 3),
        "swap_failed_requests": fail_during + fail_before,
        "tok_s_base": round(tok_base, 1),
        "tok_s_adapter_mix": round(tok_mix, 1),
        "ttft_ms_base": round(ttft_base, 1),
        "ttft_ms_adapter": round(ttft_adapter, 1),
        "adapter_load_ms": round(statistics.median(load_ms), 1),
        "adapter_load_ms_max": round(max(load_ms), 1),
        "requests": requests,
        "max_tokens": max_tokens,
        "adapters_in_mix": len(names) + 1,
    }


async def bench_engine(settings: Settings, *, requests: int = 16, max_tokens: int = 32,
                       console: Console | None = None) -> dict:
    """Start a private vLLM, run the engine benchmark, stop the server; return the figures."""
    console = console or Console(stderr=True)
    with tempfile.TemporaryDirectory(prefix="ratchet-bench-") as tmp:
        bench_settings = settings.model_copy(update={
            "data_dir": Path(tmp),
            "database_url": None,
            "engine": settings.engine.model_copy(
                update={"port": free_port(), "vllm_url": None, "model_dir": settings.model_dir}
            ),
        })
        bench_settings.ensure_dirs()
        server = vllm_process(bench_settings)
        console.print(f"starting a private vLLM on port {bench_settings.engine.port} …")
        server.start()
        try:
            with Progress(console=console) as progress:
                result = await run_engine_benchmark(bench_settings, requests=requests,
                                                    max_tokens=max_tokens, progress=progress)
        finally:
            server.stop()
    return result
