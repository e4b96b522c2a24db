"""`ratchet bench guardrails`: rails overhead, guarded/unguarded time, block and false-positive rates."""

from __future__ import annotations

from pathlib import Path

import typer

from bot.cli_common import console, friendly_errors, print_json, run, settings
from guardrails.corpus import DEFAULT_CORPUS_DIR
from guardrails.heldout import DEFAULT_HELDOUT_CORPUS
from guardrails.patterns import GuardrailConfigError


@friendly_errors
def bench_guardrails(
    model: str = typer.Option("", help="served model to check with (default: the base model)"),
    questions: int = typer.Option(8, help="benign questions timed guarded vs unguarded"),
    max_tokens: int = typer.Option(64, help="answer length per question"),
    self_check_sample: int = typer.Option(20, help="corpus questions also sent to the NeMo self-check"),
    corpus: Path = typer.Option(DEFAULT_CORPUS_DIR, help="directory with the attack/benign YAML files"),
    heldout: Path = typer.Option(DEFAULT_HELDOUT_CORPUS, help="labelled corpus split into tune/held-out sources"),
) -> None:
    """JSON lines: guardrails_rates (in-sample and held-out, per family), rails_overhead_ms per rail,
    guarded_over_unguarded, block_rate, false_positive_rate."""
    from guardrails.bench import bench_guardrails as _bench

    s = settings()
    try:
        run(_bench(s, model=model or s.engine.served_model_name, questions=questions, max_tokens=max_tokens,
                   self_check_sample=self_check_sample, corpus_dir=corpus, heldout_corpus=heldout,
                   emit=print_json))
    except GuardrailConfigError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from None


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add `ratchet bench guardrails` (``app`` is unused: guardrails has no top-level command)."""
    bench_app.command("guardrails")(bench_guardrails)
