"""Promote / roll back / set canary from the admin page.

They run through ``bot.admin_actions.AdminActions``, the same code path as the Slack admin commands, so
the gate check, the ``force`` override and the audit log are identical whichever surface an admin uses.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.admin_actions import ActionResult, AdminActions
from engine.errors import RatchetError
from engine.llm_client import LLMClient, LLMError
from engine.registry import AdapterRegistry, RegistryError


class ActionError(RatchetError, ValueError):
    """An admin action was refused or failed; nothing changed. The message says why."""


def parse_percent(raw: str) -> float:
    """A canary percentage from a form field (range checked by the action), or :class:`ActionError`."""
    try:
        return float(raw.strip().rstrip("%"))
    except ValueError:
        raise ActionError(f"canary percent must be a number between 0 and 100, got {raw!r}") from None


async def run_action(registry: AdapterRegistry, call: Callable[[AdminActions], Awaitable[ActionResult]]) -> str:
    """Run one admin action with a fresh vLLM client; its one-line message, or :class:`ActionError`."""
    async with LLMClient.from_settings(registry.settings.engine) as client:
        try:
            result = await call(AdminActions(registry, client))
        except (RegistryError, LLMError) as exc:
            raise ActionError(str(exc)) from exc
    return result.message
