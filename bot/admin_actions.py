"""Admin actions over the adapter registry: the one code path for Slack's `/ratchet`, the admin web page and
the `ratchet adapters` command line.

Who is an admin is decided by the surface, once, before an action runs: in Slack the users in
``admin.admin_user_ids`` or the ``admin.admin_usergroup_id`` group (:class:`bot.slack.admin_commands.AdminGate`),
on the page whoever signed in with ``admin.admin_token``, on the command line the machine's operator. The actor
is recorded as ``slack:<user id>``, ``admin-web`` or ``cli:<login>``.

Every action takes the ``actor`` and ``force``; every attempt, allowed or not, lands in the registry's audit
log. A version whose evaluation gate failed (or never ran) is only served — promoted, made canary or rolled
back to — with ``force``, and a forced action is audited as forced, with the gate's reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.llm_client import LLMClient
from engine.registry import BASE, AdapterRegistry, RegistryError
from feedback.gate_policy import gate_refusal


class AdminError(RegistryError):
    """An admin action was refused; nothing changed. The message says why and what to do."""


@dataclass(frozen=True)
class ActionResult:
    """What an admin action did, in one sentence plus details."""

    message: str
    detail: dict[str, Any]


class AdminActions:
    """status / adapters / promote / rollback / canary, with audit."""

    def __init__(self, registry: AdapterRegistry, llm: LLMClient) -> None:
        self.registry = registry
        self.llm = llm

    def deny(self, actor: str, action: str, reason: str = "not an admin") -> None:
        """Log a refused attempt."""
        self.registry.audit(actor, action, None, allowed=False, reason=reason)

    async def status(self, *, actor: str) -> ActionResult:
        """Model server health and where each alias points."""
        healthy = await self.llm.health()
        aliases = self._aliases()
        self.registry.audit(actor, "status")
        prod, canary = aliases["production"], aliases["canary"]
        message = (f"vLLM: {'up' if healthy else 'DOWN'} · production: {prod['version']} · "
                   f"canary: {canary['version']} ({canary['percent']:g}%)")
        return ActionResult(message, {"vllm_healthy": healthy, "aliases": aliases})

    async def adapters(self, *, actor: str) -> ActionResult:
        """Every version with its status and gate result."""
        rows = [{"id": v.id, "status": v.status, "created_at": str(v.created_at),
                 "gate_passed": _gate_passed(v.gate_report)} for v in self.registry.versions()]
        self.registry.audit(actor, "adapters")
        lines = [f"{r['id']}: {r['status']}" + ("" if r["gate_passed"] is None else
                                                f" (gate {'passed' if r['gate_passed'] else 'FAILED'})")
                 for r in rows]
        return ActionResult("\n".join(lines) or "no adapter versions yet (serving the base model)",
                            {"versions": rows, "aliases": self._aliases()})

    async def promote(self, version: str, *, actor: str, force: bool = False) -> ActionResult:
        """Point production at ``version`` (loaded and verified first)."""
        self._check_gate(version, actor, "promote", force)
        previous = await self._audited(actor, "promote", version,
                                       self.registry.promote(version, self.llm, actor=actor))
        return ActionResult(f"production is now {version} (was {previous or BASE})",
                            {"version": version, "previous": previous or BASE, "forced": force})

    async def rollback(self, *, actor: str, force: bool = False) -> ActionResult:
        """Point production back at the version it had before the latest promotion."""
        current = self.registry.aliases()["production"][0]
        found, target = self.registry.rollback_target("production")
        if found and target is not None:
            self._check_gate(target, actor, "rollback", force)
        previous = await self._audited(actor, "rollback", current or BASE, self.registry.rollback(self.llm, actor=actor))
        return ActionResult(f"production rolled back to {previous or BASE} (was {current or BASE})",
                            {"version": previous or BASE, "previous": current or BASE, "forced": force})

    async def sync(self, *, actor: str) -> ActionResult:
        """Load what the aliases point at into vLLM; unload the rest."""
        loaded = await self.registry.sync(self.llm)
        self.registry.audit(actor, "sync")
        return ActionResult(f"loaded: {', '.join(loaded) or 'none'}", {"loaded": loaded})

    async def canary(self, version: str, percent: float, *, actor: str, force: bool = False) -> ActionResult:
        """Send ``percent`` of conversations to ``version``."""
        if not 0 <= percent <= 100:
            self.deny(actor, "canary", f"bad percent {percent}")
            raise AdminError(f"canary percent must be between 0 and 100, got {percent:g}")
        self._check_gate(version, actor, "canary", force)
        await self._audited(actor, "canary", version,
                            self.registry.set_canary(version, percent, self.llm, actor=actor))
        return ActionResult(f"canary is now {version} at {percent:g}%",
                            {"version": version, "percent": percent, "forced": force})

    # --- helpers ----------------------------------------------------------------------------------------
    def _aliases(self) -> dict[str, dict[str, Any]]:
        return {name: {"version": vid or BASE, "percent": pct} for name, (vid, pct) in self.registry.aliases().items()}

    def _check_gate(self, version: str, actor: str, action: str, force: bool) -> None:
        if version == BASE:
            return
        try:
            why = gate_refusal(self.registry.get(version).gate_report)
        except RegistryError as exc:
            self.deny(actor, action, str(exc))
            raise
        if why is not None and not force:
            self.deny(actor, action, f"{version}: {why}")
            raise AdminError(f"{version} cannot be served: {why}",
                             hint=f"repeat with force to {action} it anyway (it is audited as forced)")
        if why is not None:
            self.registry.audit(actor, f"{action}.forced", version, reason=why)

    async def _audited(self, actor: str, action: str, target: str, work: Any) -> Any:
        """Run a registry call; a refusal is logged as a failed attempt and re-raised."""
        try:
            return await work
        except RegistryError as exc:
            self.registry.audit(actor, action, target, allowed=False, reason=str(exc))
            raise


def _gate_passed(report: dict[str, Any] | None) -> bool | None:
    """True/False from a gate report (``passed`` key), None when there is no report."""
    if not report or "passed" not in report:
        return None
    return bool(report["passed"])
