"""`ratchet feedback …`, `ratchet train` and `ratchet bench train`: the learning loop from the command line."""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from bot.cli_common import console, friendly_errors, print_json, run, settings

T = TypeVar("T")
feedback_app = typer.Typer(help="Votes, preference datasets, privacy and gated promotion.", no_args_is_help=True)


def _errors(func: Callable[..., T]) -> Callable[..., T]:
    """friendly_errors, plus the learning loop's own errors."""
    inner = friendly_errors(func)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        from feedback.lock import TrainingBusy
        from feedback.store import FeedbackError
        from feedback.training import TrainingError

        try:
            return inner(*args, **kwargs)
        except (FeedbackError, TrainingError, TrainingBusy) as exc:
            console.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(1) from None

    return wrapper


def _data():
    from feedback.datasets import build_preference_data
    from feedback.store import FeedbackStore

    return build_preference_data(FeedbackStore(settings()))


@feedback_app.command("export")
@_errors
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
@_errors
def stats() -> None:
    """Answers, votes, per-version 👍 rate, dataset sizes (one JSON object)."""
    from feedback.jobs import new_labelled_examples
    from feedback.store import FeedbackStore

    store = FeedbackStore(settings())
    print_json({"labelled_answers": store.labelled_count(), "new_since_last_training": new_labelled_examples(store),
                "versions": store.version_summary(), "dataset": _data().stats()})


@feedback_app.command("forget")
@_errors
def forget(user: str = typer.Option(..., "--user", help="Slack user id"),
           yes: bool = typer.Option(False, "--yes", help="do not ask")) -> None:
    """Delete a user's questions and votes (with their history)."""
    from feedback.store import FeedbackStore

    if not yes:
        typer.confirm(f"Delete every question and vote of {user}?", abort=True)
    counts = FeedbackStore(settings()).forget_user(user)
    console.print(f"deleted {counts['answers']} answers, {counts['votes']} votes, {counts['vote_events']} vote events")


@feedback_app.command("purge")
@_errors
def purge() -> None:
    """Delete answers older than feedback.retention_days."""
    from feedback.store import FeedbackStore

    console.print(f"deleted {FeedbackStore(settings()).purge_expired()} expired answers")


@feedback_app.command("gate")
@_errors
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


@_errors
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


@_errors
def bench_train(pairs: int = typer.Option(24, help="synthetic questions (one pair each)"),
                max_steps: int = typer.Option(-1, help="-1 = one epoch"),
                max_length: int = typer.Option(256), batch_size: int = typer.Option(4),
                learning_rate: float = typer.Option(2e-4)) -> None:
    """Training job vs a plain TRL script on the same data: time, overhead, held-out accuracy, memory."""
    from engine.settings import Settings
    from feedback.bench import bench_train as _bench

    base = settings()

    def factory(data_dir: Path) -> Settings:
        return Settings(**{**base.model_dump(mode="json", exclude={"database_url"}), "data_dir": str(data_dir),
                           "engine": {**base.engine.model_dump(mode="json"), "model_dir": str(base.model_dir)}})

    rows = _bench(factory, pairs=pairs, overrides={"max_steps": max_steps, "max_length": max_length,
                                                   "batch_size": batch_size, "learning_rate": learning_rate})
    while True:
        with contextlib.redirect_stdout(sys.stderr):  # trainers print their logs; stdout is for JSON lines
            row = next(rows, None)
        if row is None:
            return
        print_json(row)


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add the learning loop's commands to the `ratchet` app."""
    app.add_typer(feedback_app, name="feedback")
    app.command("train")(train)
    bench_app.command("train")(bench_train)
