"""`ratchet retrieval …`: trained embedding models and rerankers — list, train, export, promote, rollback, expire."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bot.cli.adapters import operator
from bot.cli.common import console, friendly_errors, print_json, settings

retrieval_app = typer.Typer(help="Retrieval models learnt from votes: versions, gate, promotion, rollback.",
                            no_args_is_help=True)


def _bar(label: str) -> Progress:
    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console,
                    transient=True)


def _gate_line(report: dict | None) -> str:
    if not report:
        return "-"
    c, p = report.get("candidate", {}), report.get("production", {})
    verdict = "passed" if report.get("passed") else "failed"
    return f"{verdict}: R@5 {p.get('recall_at_5')}→{c.get('recall_at_5')}, MRR {p.get('mrr')}→{c.get('mrr')}"


@retrieval_app.command("list")
@friendly_errors
def retrieval_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Versions (with their gate verdicts) and what is in production."""
    from engine.retrieval_registry import PACKAGED, RetrievalRegistry

    reg = RetrievalRegistry(settings())
    production = {kind: reg.production(kind) or PACKAGED for kind in ("embedder", "reranker")}
    if as_json:
        for v in reg.versions():
            print_json({"id": v.id, "kind": v.kind, "status": v.status, "created_at": v.created_at,
                        "dataset": v.dataset_snapshot_id, "metrics": v.metrics, "gate_report": v.gate_report})
        print_json({"production": production})
        return
    table = Table("version", "kind", "status", "created", "dataset", "gate")
    for v in reg.versions():
        table.add_row(v.id, v.kind, v.status, f"{v.created_at:%Y-%m-%d %H:%M}", v.dataset_snapshot_id or "-",
                      _gate_line(v.gate_report))
    console.print(table)
    for kind, vid in production.items():
        console.print(f"{kind} in production → {vid}")


@retrieval_app.command("promote")
@friendly_errors
def retrieval_promote(
    version: str,
    force: bool = typer.Option(False, "--force", help="promote although the gate failed or never ran (audited)"),
) -> None:
    """Serve VERSION: an embedder's collection is re-embedded (if the gate has not) and the alias switched."""
    from engine.retrieval_registry import PACKAGED, RetrievalRegistry

    reg = RetrievalRegistry(settings())
    with _bar("re-embedding") as bar:
        task = bar.add_task("reembed", total=None)
        previous = reg.promote(version, actor=operator(), force=force,
                               progress=lambda done, total: bar.update(task, completed=done, total=total))
    console.print(f"{version} in production (was {previous or PACKAGED})")


@retrieval_app.command("rollback")
@friendly_errors
def retrieval_rollback(kind: str = typer.Argument(..., help="embedder or reranker")) -> None:
    """Serve the KIND's version from before the latest promotion again."""
    from engine.retrieval_registry import PACKAGED, RetrievalRegistry

    reg = RetrievalRegistry(settings())
    with _bar("re-embedding") as bar:
        task = bar.add_task("reembed", total=None)
        previous = reg.rollback(kind, actor=operator(),
                                progress=lambda done, total: bar.update(task, completed=done, total=total))
    console.print(f"{kind} rolled back to {previous or PACKAGED}")


@retrieval_app.command("expire")
@friendly_errors
def retrieval_expire() -> None:
    """Delete knowledge collections replaced longer ago than rag.collection_retention_days."""
    from engine.retrieval_registry import RetrievalRegistry

    gone = RetrievalRegistry(settings()).expire_collections()
    console.print(f"deleted {len(gone)} collections" + (f": {', '.join(gone)}" if gone else ""))


@retrieval_app.command("train")
@friendly_errors
def retrieval_train(evaluate: bool = typer.Option(True, help="gate each trained model")) -> None:
    """Train an embedder and a reranker from the current votes now, register and gate them (one JSON line each)."""
    from feedback.retrieval_jobs import run_retrieval_training

    with _bar("training") as bar:
        task = bar.add_task("train", total=None)
        outcomes = run_retrieval_training(settings(), trigger="cli", evaluate=evaluate,
                                          progress=lambda step, total: bar.update(task, completed=step, total=total))
    for o in outcomes:
        print_json({"kind": o.kind, "status": o.status, "version": o.version_id, "reason": o.reason,
                    "gate": o.gate})


@retrieval_app.command("export")
@friendly_errors
def retrieval_export(
    split: str = typer.Option("train", help="train, heldout or all"),
    out: Path = typer.Option(..., "--out", "-o", help="JSONL file to write"),
) -> None:
    """Write the retrieval training data (question, cited chunks, hard negatives) as JSONL."""
    from feedback.retrieval_data import build_retrieval_data, export_retrieval_jsonl
    from feedback.store import FeedbackStore

    if split not in ("train", "heldout", "all"):
        raise typer.BadParameter("--split is one of train, heldout, all")
    n = export_retrieval_jsonl(build_retrieval_data(FeedbackStore(settings())), split, out)
    console.print(f"wrote {n} retrieval rows ({split}) to {out}")
