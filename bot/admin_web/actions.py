"""Promote / roll back / set canary from the admin page.

These go through the same functions as the Slack admin commands, so the checks, the audit log and the
multi-replica loading are identical whichever surface an admin uses.
"""

from __future__ import annotations

from engine.llm_client import LLMClient, LLMError
from engine.registry import AdapterRegistry, RegistryError


class ActionError(ValueError):
    """An admin action was refused or failed; nothing changed. The message says why."""


def parse_percent(raw: str) -> float:
    """A canary percentage from a form field, or :class:`ActionError` with what to type instead."""
    try:
        percent = float(raw.strip().rstrip("%"))
    except ValueError:
        raise ActionError(f"canary percent must be a number between 0 and 100, got {raw!r}") from None
    if not 0 <= percent <= 100:
        raise ActionError(f"canary percent must be between 0 and 100, got {percent:g}")
    return percent


async def promote(registry: AdapterRegistry, version: str, actor: str) -> str:
    """Point production at ``version``; returns a one-line notice."""
    async with _client(registry) as client:
        previous = await _guard(registry.promote(version, client, actor=actor))
    return f"production → {version} (was {previous or 'base'})"


async def rollback(registry: AdapterRegistry, actor: str) -> str:
    """Point production back at the previous version; returns a one-line notice."""
    async with _client(registry) as client:
        target = await _guard(registry.rollback(client, actor=actor))
    return f"production rolled back to {target or 'base'}"


async def set_canary(registry: AdapterRegistry, version: str, percent: float, actor: str) -> str:
    """Send ``percent`` of conversations to ``version``; returns a one-line notice."""
    async with _client(registry) as client:
        await _guard(registry.set_canary(version, percent, client, actor=actor))
    return f"canary → {version} at {percent:g}%"


def _client(registry: AdapterRegistry) -> LLMClient:
    return LLMClient.from_settings(registry.settings.engine)


async def _guard(coro):
    try:
        return await coro
    except (RegistryError, LLMError) as exc:
        raise ActionError(str(exc)) from exc
