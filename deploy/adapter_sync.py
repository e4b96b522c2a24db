"""Keep one vLLM replica serving what the aliases need: on boot, and again whenever the replica restarts.

Runs next to each vLLM (Kubernetes sidecar, compose service) in the Ratchet image, with
``RATCHET_ENGINE__VLLM_URL`` pointing at that one replica. While the replica holds every version the
aliases point at, it only touches a ready file (the sidecar's readiness probe); when one is missing (a fresh
or restarted replica) it runs the registry's ``sync``. It never unloads a healthy replica's adapters, so it
cannot race a promotion in progress.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from engine.llm_client import LLMClient, LLMError
from engine.logs import configure_logging, get_logger
from engine.registry import AdapterRegistry
from engine.settings import Settings, get_settings

log = get_logger("adapter_sync")


async def sync_once(settings: Settings, ready_file: Path) -> str:
    """One check: 'down' (replica unreachable), 'synced' (was missing versions, loaded) or 'ok'."""
    registry = AdapterRegistry(settings)
    wanted = {vid for vid, _pct in registry.aliases().values() if vid}
    async with LLMClient.from_settings(settings.engine) as client:
        try:
            served = set(await client.served())
        except LLMError:
            ready_file.unlink(missing_ok=True)
            return "down"
        outcome = "ok"
        if not wanted <= served:
            loaded = await registry.sync(client)
            log.info("adapter_sync.synced", missing=sorted(wanted - served), loaded=loaded)
            outcome = "synced"
    ready_file.touch()
    return outcome


async def main() -> None:
    """Check every ``SYNC_INTERVAL_S`` seconds until stopped."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    ready = Path(os.environ.get("SYNC_READY_FILE", "/tmp/synced"))
    interval = float(os.environ.get("SYNC_INTERVAL_S", "15"))
    while True:
        try:
            await sync_once(settings, ready)
        except Exception as exc:  # noqa: BLE001 - keep watching; the next round retries
            ready.unlink(missing_ok=True)
            log.warning("adapter_sync.failed", error=str(exc))
        await asyncio.sleep(interval)


if __name__ == "__main__":
    asyncio.run(main())
