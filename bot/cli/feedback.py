"""`ratchet feedback …` and `ratchet train`: the learning loop from the command line."""

from __future__ import annotations

from pathlib import Path

import typer

from bot.cli.common import console, friendly_errors, print_json, run, settings

feedback_app = typer.Typer(help="Votes, preference datasets, privacy and gated promotion.", no_args_is_help=True)


def _data():
    from feedback.datasets import build_preference_data
    from feedback.store import FeedbackStore

    return build_preference_data(FeedbackStore(settings()))


@feedback_app.command("export")
@friendly_errors
def export(
    fmt: str = typer.Option("dpo", "--format", help="dpo (pairs) or kto (unpaired thumbs)"),
    split: str = typer.Option("train", help="train, heldout or all"),
    out: Path = typer.Option(..., "--out", "-o", help="JSONL file to write"),
) -> None:
    """Write preference data in TRL's JSONL format."""
    from feedback.datasets import FORMATS, SPLITS, export_jsonl

    if fmt not in FORMATS or split not in SPLITS:
        raise typer.BadParameter(f"--format is one of {', '.join(FORMATS)}; --split one of {', '.join(SPLITS)}")
    n = export_jsonl(_data(), fmt, split, out)
    console.print(f"wrote {n} {fmt} rows ({split}) to {out}")


@feedback_app.command("stats")
@friendly_errors
def stats() -> None:
    """Answers, votes, per-version 👍 rate, dataset sizes (one JSON object)."""
    from feedback.jobs import new_labelled_examples
    from feedback.store import FeedbackStore

    store = FeedbackStore(settings())
    print_json({"labelled_answers": store.labelled_count(), "new_since_last_training": new_labelled_examples(store),
                "versions": store.version_summary(), "dataset": _data().stats()})


@feedback_app.command("forget")
@friendly_errors
def forget(user: str = typer.Option(..., "--user", help="Slack user id"),
           yes: bool = typer.Option(False, "--yes", help="do not ask")) -> None:
    """Delete a user's questions and votes (with their history)."""
    from feedback.store import FeedbackStore

    if not yes:
        typer.confirm(f"Delete every question and vote of {user}?", abort=True)
    counts = FeedbackStore(settings()).forget_user(user)
    console.print(f"deleted {counts['answers']} answers, {counts['votes']} votes, {counts['vote_events']} vote events")


@feedback_app.command("purge")
@friendly_errors
def purge() -> None:
    """Delete answers older than feedback.retention_days."""
    from feedback.store import FeedbackStore

    console.print(f"deleted {FeedbackStore(settings()).purge_expired()} expired answers")


@feedback_app.command("gate")
@friendly_errors
def gate(version: str) -> None:
    """(Re)run the evaluation gate on a version and print its report."""
    from engine.llm_client import LLMClient
    from feedback.gate import evaluate_candidate

    s = settings()

    async def go():
        async with LLMClient.from_settings(s.engine) as client:
            return await evaluate_candidate(s, version, _data(), client)

    report = run(go())
    console.print(report.summary())
    print_json(report.as_dict())


@friendly_errors
def train(now: bool = typer.Option(False, "--now", help="train once, now, with a progress bar"),
          method: str = typer.Option(None, help="dpo or kto (default: feedback.training.method)")) -> None:
    """Run the training scheduler (cron / N new examples), or train once with --now."""
    if not now:
        from feedback.scheduler import build_scheduler

        console.print("training scheduler running (Ctrl-C to stop)")
        try:
            build_scheduler(settings(), background=False).start()
        except (KeyboardInterrupt, SystemExit):
            pass
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from feedback.jobs import run_training

    with Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console) as bar:
        task = bar.add_task("train", total=None)
        outcome = run_training(settings(), trigger="cli", overrides={"method": method} if method else None,
                               progress=lambda step, total: bar.update(task, completed=step, total=total))
    if outcome.status != "succeeded":
        console.print(f"[yellow]{outcome.status}:[/] {outcome.reason}")
        raise typer.Exit(1)
    console.print(f"registered candidate {outcome.version_id}")
    if outcome.gate:
        from feedback.gate import GateReport, Check

        gate_report = GateReport(**{**outcome.gate, "checks": [Check(**c) for c in outcome.gate["checks"]]})
        console.print(gate_report.summary())
