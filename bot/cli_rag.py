"""`ratchet ingest ...` and `ratchet bench rag`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from bot.cli_common import console, friendly_errors, print_json, settings


def default_sources() -> list[str]:
    """The sample knowledge base (``rag.sample_docs_dir`` or the repo's docs/knowledge)."""
    configured = settings().rag.sample_docs_dir
    return [str(configured or Path(__file__).resolve().parents[1] / "docs" / "knowledge")]


def _user_errors() -> tuple[type[Exception], ...]:
    """Errors of the RAG stack that are the user's to fix (shown as one line, exit 1)."""
    from engine.rag.embedder import EmbedderError
    from engine.rag.weaviate_client import WeaviateError

    return WeaviateError, EmbedderError, ValueError


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(1) from None


@friendly_errors
def ingest(
    paths: list[str] = typer.Argument(None, help="files, folders or http(s) URLs; default: the sample knowledge base"),
    collection: str = typer.Option(None, "--collection", help="Weaviate collection (default: rag.collection)"),
    acl: list[str] = typer.Option(None, "--acl", help="access group (repeatable); default: public"),
    tenant: str = typer.Option(None, "--tenant", help="workspace/team tenant (default: rag.default_tenant)"),
    prune: bool = typer.Option(False, "--prune", help="delete documents whose files left the given folders"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
) -> None:
    """Add or update documents (Markdown, HTML, text, PDF); unchanged files are skipped."""
    from engine.rag.ingest import ingest_paths

    try:
        summary = ingest_paths(settings(), paths or default_sources(), collection=collection, acl=acl or None,
                               tenant=tenant, prune=prune, show_progress=not as_json)
    except _user_errors() as exc:
        _fail(exc)
    if as_json:
        print_json(summary.as_dict())
    else:
        table = Table("status", "chunks", "source", "message", title=f"{summary.collection} / {summary.tenant}")
        for f in summary.files:
            colour = {"skipped": "yellow", "failed": "red", "deleted": "magenta"}.get(f.status, "green")
            table.add_row(f"[{colour}]{f.status}[/]", str(f.chunks), f.source, f.message)
        console.print(table)
        console.print(", ".join(f"{n} {s}" for s, n in summary.counts().items()) or "nothing to ingest",
                      f"in {summary.seconds:.1f}s")
    if summary.by_status("failed"):
        raise typer.Exit(1)


@friendly_errors
def bench_rag(
    chunks: int = typer.Option(100_000, "--chunks", help="synthetic corpus size (one fact per chunk)"),
    queries: int = typer.Option(200, "--queries", help="generated questions for latency and recall@5"),
    per_doc: int = typer.Option(50, "--per-doc", help="chunks per generated document"),
    embed_sample: int = typer.Option(
        500, "--embed-sample",
        help="chunks really embedded and ingested (rates, ratio, QA set); the rest is filler with composed vectors"),
    keep: bool = typer.Option(False, "--keep", help="keep the benchmark collection"),
) -> None:
    """Ingest vs embed-only throughput, hybrid+rerank latency p50/p95, recall@5 at --chunks (JSON lines)."""
    from engine.rag.bench import bench_rag as _bench

    try:
        _bench(settings(), chunks=chunks, queries=queries, per_doc=per_doc, embed_sample=embed_sample, keep=keep,
               emit=print_json)
    except _user_errors() as exc:
        _fail(exc)


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add `ratchet ingest` and `ratchet bench rag`."""
    app.command("ingest")(ingest)
    bench_app.command("rag")(bench_rag)
