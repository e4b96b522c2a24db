"""`ratchet ingest ...`: the knowledge base."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from bot.cli.common import console, friendly_errors, print_json, settings

def default_sources() -> list[str]:
    """The sample knowledge base (``rag.sample_docs_dir`` or the repo's docs/knowledge)."""
    configured = settings().rag.sample_docs_dir
    return [str(configured or Path(__file__).resolve().parents[2] / "docs" / "knowledge")]

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

    summary = ingest_paths(settings(), paths or default_sources(), collection=collection, acl=acl or None,
                           tenant=tenant, prune=prune, show_progress=not as_json)
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
