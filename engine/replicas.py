"""Which adapters each vLLM replica holds: load (making room first, never above ``--max-loras``), verify,
unload, and sync after a restart. The registry (:mod:`engine.registry`) decides what must be held; this
module only talks to the servers.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from engine.errors import RegistryError
from engine.llm_client import LLMClient, LLMError
from engine.logs import get_logger
from engine.registry_models import AdapterVersion
from engine.settings import EngineSettings, Settings

log = get_logger(__name__)


class ReplicaLoader:
    """Loads adapter versions into vLLM servers: ``client``'s own and every configured replica.

    ``keep()`` returns the names that must stay loaded (alias targets, the base stand-in) and the
    rollback target, which is kept loaded while there is room.
    """

    def __init__(self, settings: Settings, keep: Callable[[], tuple[set[str], str | None]]) -> None:
        self.settings = settings
        self.keep = keep
        self.loaded: set[str] = set()

    async def _refresh_loaded(self, client: LLMClient) -> dict[str, str]:
        served = await client.served()
        served.pop(self.settings.engine.served_model_name, None)
        self.loaded = set(served)
        return served

    async def _unload(self, client: LLMClient, name: str) -> None:
        await client.unload_adapter(name)
        self.loaded.discard(name)
        log.info("adapter.unloaded", version=name)

    async def _ensure_loaded(self, client: LLMClient, version: AdapterVersion) -> bool:
        """Load ``version`` under its id, making room first; never exceed --max-loras. True if it loaded it."""
        served = await self._refresh_loaded(client)
        if version.id in served:
            if served[version.id] == version.path:
                return False
            # same name from another path (e.g. a re-created database): never serve the wrong weights
            await self._unload(client, version.id)
        pinned, rollback = self.keep()
        pinned = pinned | {version.id}
        for name in sorted(self.loaded - pinned - {rollback}):
            await self._unload(client, name)
        capacity = self.settings.engine.max_loras
        if len(self.loaded) + 1 > capacity and rollback in self.loaded:
            await self._unload(client, rollback)  # the rollback target is the first to give way
        if len(self.loaded) + 1 > capacity:
            raise RegistryError(
                f"cannot load {version.id}: {len(self.loaded)} adapters are in use "
                f"and the server allows {capacity} (--max-loras)"
            )
        ms = await client.load_adapter(version.id, version.path)
        self.loaded.add(version.id)
        log.info("adapter.loaded", version=version.id, ms=round(ms, 1))
        return True

    async def _verify(self, client: LLMClient, version_id: str) -> None:
        try:
            await client.chat(
                [{"role": "user", "content": self.settings.engine.verify_prompt}],
                model=version_id, max_tokens=self.settings.engine.verify_max_tokens,
            )
        except LLMError as exc:
            raise RegistryError(f"{version_id} was loaded but does not answer: {exc}") from exc

    async def load_everywhere(self, client: LLMClient, version: AdapterVersion, *, verify: bool = True) -> None:
        """Load (and verify) ``version`` on ``client``'s server and on every configured replica.

        Raises RegistryError naming the replica that failed; the caller flips no alias then, and the replicas
        that loaded ``version`` for this call unload it again: a promotion that fails half-way leaves every
        replica as it was (as far as the adapters in use go).
        """
        urls = [u for u in replica_urls(self.settings.engine) if u != client.base_url]
        extra = [LLMClient(u, timeout_s=self.settings.engine.request_timeout_s, api_key=self.settings.engine.api_key,
                           retries=self.settings.engine.connect_retries) for u in urls]
        loaded_here: list[LLMClient] = []
        try:
            for replica in [client, *extra]:
                try:
                    if await self._ensure_loaded(replica, version):
                        loaded_here.append(replica)
                    if verify:
                        await self._verify(replica, version.id)
                except RegistryError:
                    await self._undo(loaded_here, version.id)
                    raise
                except LLMError as exc:
                    await self._undo(loaded_here, version.id)
                    raise RegistryError(
                        f"vLLM at {replica.base_url} refused to load {version.id}: {exc}"
                    ) from exc
        finally:
            for replica in extra:
                await replica.aclose()

    async def _undo(self, replicas: list[LLMClient], version_id: str) -> None:
        for replica in replicas:
            try:
                await self._unload(replica, version_id)
            except LLMError as exc:  # that replica went down too; a restarted one syncs from the aliases
                log.warning("adapter.undo_failed", version=version_id, replica=replica.base_url, error=str(exc)[:160])

    async def sync(self, client: LLMClient, wanted: dict[str, AdapterVersion]) -> list[str]:
        """Make ``client``'s server hold the base stand-in and exactly ``wanted``; returns the loaded names."""
        await self._refresh_loaded(client)
        base = self.settings.base_model_name
        if self.settings.engine.base_adapter and base not in self.loaded:
            await client.load_adapter(base, str(self.settings.base_adapter_dir))
            self.loaded.add(base)
        for name in sorted(self.loaded - set(wanted) - {base}):
            await self._unload(client, name)
        for vid in sorted(set(wanted) - self.loaded):
            await self._ensure_loaded(client, wanted[vid])
        return sorted(self.loaded - {base})


def replica_urls(engine: EngineSettings) -> list[str]:
    """Every vLLM replica: the configured list plus the addresses ``replica_discovery`` resolves to."""
    urls = [u.rstrip("/") for u in engine.replica_urls]
    if engine.replica_discovery:
        host, _, port = engine.replica_discovery.rpartition(":")
        try:
            infos = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
        except (OSError, ValueError) as exc:
            raise RegistryError(
                f"cannot discover vLLM replicas from {engine.replica_discovery!r}: {exc}"
            ) from exc
        for ip in sorted({info[4][0] for info in infos}):
            urls.append(f"http://[{ip}]:{port}" if ":" in ip else f"http://{ip}:{port}")
    return list(dict.fromkeys(urls))
