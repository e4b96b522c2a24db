"""`ratchet adapters ...`: versions, aliases, and promotion, canary and rollback through the same admin actions
as Slack and the admin page (gate rule, force, audit)."""

from __future__ import annotations

import getpass
from pathlib import Path

import typer
from rich.table import Table

from bot.admin_actions import AdminActions
from bot.cli.common import console, friendly_errors, print_json, run, settings
from engine.llm_client import LLMClient
from engine.registry import AdapterRegistry

adapters_app = typer.Typer(help="Adapter versions, aliases, promotion and rollback.", no_args_is_help=True)


@adapters_app.command("list")
@friendly_errors
def adapters_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Versions and aliases."""
    reg = AdapterRegistry(settings())
    aliases = reg.aliases()
    if as_json:
        for v in reg.versions():
            print_json({"id": v.id, "status": v.status, "path": v.path, "created_at": v.created_at,
                        "metrics": v.metrics, "gate_report": v.gate_report})
        print_json({"aliases": {k: {"version": vid or "base", "percent": p} for k, (vid, p) in aliases.items()}})
        return
    table = Table("version", "status", "created", "rank", "dataset", "path")
    for v in reg.versions():
        table.add_row(v.id, v.status, f"{v.created_at:%Y-%m-%d %H:%M}", str(v.rank),
                      v.dataset_snapshot_id or "-", v.path)
    console.print(table)
    for name, (vid, pct) in aliases.items():
        console.print(f"{name} → {vid or 'base'}" + (f" ({pct:g}%)" if name == "canary" else ""))


@adapters_app.command("register")
@friendly_errors
def adapters_register(path: Path, notes: str = typer.Option(None)) -> None:
    """Add an adapter directory as the next version (status candidate)."""
    version = AdapterRegistry(settings()).register(path, notes=notes)
    console.print(f"registered {version.id}")


def with_registry(op):
    """Run ``op(registry, vllm_client)`` with fresh clients; returns its result."""
    async def go():
        s = settings()
        async with LLMClient.from_settings(s.engine) as client:
            return await op(AdapterRegistry(s), client)

    return run(go())


def operator() -> str:
    """The actor of a command-line action: the machine's login (not free text)."""
    return f"cli:{getpass.getuser()}"


def _admin(action) -> str:
    """Run one admin action (the same path as Slack and the admin page); its one-line message."""
    async def go():
        s = settings()
        async with LLMClient.from_settings(s.engine) as client:
            return await action(AdminActions(AdapterRegistry(s), client))

    return run(go()).message


@adapters_app.command("promote")
@friendly_errors
def adapters_promote(
    version: str,
    force: bool = typer.Option(False, "--force", help="promote although the gate failed or never ran (audited)"),
) -> None:
    """Load VERSION into vLLM, verify it answers, then point `production` at it (its gate must have passed)."""
    console.print(_admin(lambda a: a.promote(version, actor=operator(), force=force)))


@adapters_app.command("rollback")
@friendly_errors
def adapters_rollback(
    force: bool = typer.Option(False, "--force", help="roll back to a version whose gate failed (audited)"),
) -> None:
    """Point `production` back at the version before the latest promotion."""
    console.print(_admin(lambda a: a.rollback(actor=operator(), force=force)))


@adapters_app.command("canary")
@friendly_errors
def adapters_canary(
    version: str, percent: float,
    force: bool = typer.Option(False, "--force", help="canary a version whose gate failed (audited)"),
) -> None:
    """Send PERCENT of conversations (sticky per thread) to VERSION (its gate must have passed)."""
    console.print(_admin(lambda a: a.canary(version, percent, actor=operator(), force=force)))


@adapters_app.command("sync")
@friendly_errors
def adapters_sync() -> None:
    """Load what the aliases point at into vLLM; unload the rest."""
    console.print(_admin(lambda a: a.sync(actor=operator())))
