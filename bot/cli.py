"""The `ratchet` command line."""

from __future__ import annotations

import typer

from bot import cli_admin, cli_bot, cli_engine, cli_feedback, cli_guardrails, cli_rag

app = typer.Typer(help="Ratchet: a Slack assistant that gets better from your votes.", no_args_is_help=True)
app.command()(cli_engine.up)
app.command()(cli_engine.down)
app.command()(cli_engine.status)
app.add_typer(cli_engine.model_app, name="model")
app.add_typer(cli_engine.adapters_app, name="adapters")
app.command()(cli_admin.admin)
bench_app = typer.Typer(help="Benchmarks: JSON lines, ratios measured in one run.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
cli_feedback.register(app, bench_app)
cli_rag.register(app, bench_app)
cli_bot.register(app, bench_app)
cli_guardrails.register(app, bench_app)


@bench_app.command("engine")
def bench_engine(
    requests: int = typer.Option(16, help="requests per measurement"),
    max_tokens: int = typer.Option(32),
) -> None:
    """vLLM throughput base vs 4-adapter mix, TTFT, hot-swap under load, adapter load time."""
    from bot.cli_common import run, settings
    from engine.bench import bench_engine as _bench

    run(_bench(settings(), requests=requests, max_tokens=max_tokens))


if __name__ == "__main__":
    app()
