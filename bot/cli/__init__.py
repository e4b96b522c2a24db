"""The `ratchet` command line: one module per command group, assembled here."""

from __future__ import annotations

import typer

from bot.cli import adapters, admin_page, bench, chat, feedback, knowledge, retrieval, services

app = typer.Typer(help="Ratchet: a Slack assistant that gets better from your votes.", no_args_is_help=True)
app.command()(services.up)
app.command()(services.down)
app.command()(services.status)
app.add_typer(services.model_app, name="model")
app.add_typer(adapters.adapters_app, name="adapters")
app.add_typer(retrieval.retrieval_app, name="retrieval")
app.command("ingest")(knowledge.ingest)
app.command()(chat.ask)
app.command()(chat.chat)
app.command("bot")(chat.bot)
app.add_typer(feedback.feedback_app, name="feedback")
app.command("train")(feedback.train)
app.command()(admin_page.admin)
app.add_typer(bench.bench_app, name="bench")

if __name__ == "__main__":
    app()
