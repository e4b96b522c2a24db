"""`ratchet bench ...`: every benchmark prints JSON lines on stdout; ratios are measured in one run."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import typer

from bot.cli.common import console, friendly_errors, print_json, run, settings
from guardrails.corpus import DEFAULT_CORPUS_DIR
from guardrails.heldout import DEFAULT_HELDOUT_CORPUS

bench_app = typer.Typer(help="Benchmarks: JSON lines, ratios measured in one run.", no_args_is_help=True)


@bench_app.command("engine")
@friendly_errors
def bench_engine(
    requests: int = typer.Option(16, help="requests per measurement"),
    max_tokens: int = typer.Option(32),
) -> None:
    """vLLM throughput base vs 4-adapter mix, TTFT, hot-swap under load, adapter load time."""
    from engine.bench import bench_engine as _bench

    print_json(run(_bench(settings(), requests=requests, max_tokens=max_tokens, console=console)))


@bench_app.command("rag")
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

    _bench(settings(), chunks=chunks, queries=queries, per_doc=per_doc, embed_sample=embed_sample, keep=keep,
           emit=print_json)


ANSWERS_DIR = Path(__file__).resolve().parents[2] / "tests" / "answers"


@bench_app.command("retrieval")
@friendly_errors
def bench_retrieval(
    questions: Path = typer.Option(ANSWERS_DIR / "questions.jsonl", help="question set (JSON lines)"),
    manifest: Path = typer.Option(ANSWERS_DIR / "corpus.json", help="corpus manifest (page list)"),
    docs: Path = typer.Option(None, help="html dir of the pages (default: $RATCHET_ANSWERS_DOCS or the manifest's)"),
    details: bool = typer.Option(False, "--details", help="also one line per question (rank, top pages)"),
    keep: bool = typer.Option(False, "--keep", help="keep the evaluation collection"),
) -> None:
    """Real-corpus retrieval: recall@1/@5 and MRR of the source page, train vs held-out, search p50/p95."""
    from engine.rag.evaluate import evaluate_retrieval

    evaluate_retrieval(settings(), questions_path=questions, manifest_path=manifest, docs=docs, keep=keep,
                       details=details, emit=print_json)


@bench_app.command("guardrails")
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
    run(_bench(s, model=model or s.engine.served_model_name, questions=questions, max_tokens=max_tokens,
               self_check_sample=self_check_sample, corpus_dir=corpus, heldout_corpus=heldout, emit=print_json))


@bench_app.command("train")
@friendly_errors
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


@bench_app.command("answers")
@friendly_errors
def bench_answers(
    questions: Path = typer.Option(None, help="question set (default: the repo's tests/answers/questions.jsonl)"),
    docs: Path = typer.Option(None, help="the Python docs' html dir (default: Debian's python3-doc)"),
    split: str = typer.Option("all", help="train, heldout or all"),
    limit: int = typer.Option(None, help="answer only the first N questions"),
    out: Path = typer.Option(None, help="write every answer and its scores to this JSONL file"),
    collection: str = typer.Option("BenchPythonDocs", help="Weaviate collection for the corpus (kept between runs)"),
) -> None:
    """Answer quality on a real corpus: recall@5, accuracy, supported sentences, confident-wrong, refusals."""
    from bot.bench_answers import ANSWERS_DIR
    from bot.bench_answers import bench_answers as _bench

    run(_bench(settings(), questions_path=questions or ANSWERS_DIR / "questions.jsonl", docs=docs, split=split,
               limit=limit, out=out, emit=print_json, collection=collection))


@bench_app.command("sentence-ranker")
@friendly_errors
def bench_sentence_ranker(
    questions: Path = typer.Option(None, help="question set (default: the repo's tests/answers/questions.jsonl)"),
    docs: Path = typer.Option(None, help="the Python docs' html dir (default: Debian's python3-doc)"),
    write: Path = typer.Option(None, help="save the trained ranker here (the packaged one: "
                                          "guardrails/config/sentence_ranker.json)"),
    regularisation: float = typer.Option(0.01, help="inverse L2 strength of the logistic model"),
) -> None:
    """Train the extractive answers' sentence ranker on the train questions; quote accuracy per split."""
    from bot.bench_answers import ANSWERS_DIR
    from bot.bench_ranker import bench_sentence_ranker as _bench

    run(_bench(settings(), questions_path=questions or ANSWERS_DIR / "questions.jsonl", docs=docs, write=write,
               regularisation=regularisation, emit=print_json))


@bench_app.command("loop")
@friendly_errors
def bench_loop(
    questions: Path = typer.Option(None, help="question set (default: the repo's tests/answers/questions.jsonl)"),
    docs: Path = typer.Option(None, help="the Python docs' html dir (default: Debian's python3-doc)"),
    work: Path = typer.Option(None, help="keep the store here and reuse its votes on the next run"),
    train_limit: int = typer.Option(None, help="ask only the first N train questions"),
    heldout_limit: int = typer.Option(None, help="evaluate on the first N held-out questions"),
    learning_rate: float = typer.Option(None, help="override feedback.training.learning_rate"),
    loss: str = typer.Option(None, help="override feedback.training.loss_type, comma-separated (sigmoid,sft)"),
    targets: str = typer.Option(None, help="override feedback.training.target_modules, comma-separated"),
    epochs: float = typer.Option(None, help="override feedback.training.epochs"),
    max_length: int = typer.Option(None, help="override feedback.training.max_length"),
    max_steps: int = typer.Option(None, help="override feedback.training.max_steps"),
    batch_size: int = typer.Option(None, help="override feedback.training.batch_size"),
    grad_accum: int = typer.Option(None, help="override feedback.training.grad_accum"),
    flipped: bool = typer.Option(True, help="also train on reversed preferences and gate it"),
    concurrency: int = typer.Option(4, help="simulated employees asking at once"),
    auto_pairs: bool = typer.Option(False, help="add automatic preference pairs (feedback.auto_pairs settings)"),
) -> None:
    """Votes on train questions -> trained adapter -> held-out quality before/after and the gate's verdicts."""
    import tempfile

    from bot.bench_answers import ANSWERS_DIR
    from bot.bench_loop import bench_loop as _bench

    overrides = {k: v for k, v in {
        "learning_rate": learning_rate, "epochs": epochs, "max_length": max_length, "max_steps": max_steps,
        "batch_size": batch_size, "grad_accum": grad_accum,
        "loss_type": loss.split(",") if loss else None, "target_modules": targets.split(",") if targets else None,
    }.items() if v is not None}
    with contextlib.ExitStack() as stack:
        where = work or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ratchet-bench-loop-")))
        with contextlib.redirect_stdout(sys.stderr):  # trainers print; stdout is for the JSON line
            result = run(_bench(settings(), questions_path=questions or ANSWERS_DIR / "questions.jsonl", docs=docs,
                                work=where, overrides=overrides, train_limit=train_limit,
                                heldout_limit=heldout_limit, flipped=flipped, emit=lambda _: None,
                                concurrency=concurrency, auto_pairs=auto_pairs))
        print_json(result)


@bench_app.command("retrieval-loop")
@friendly_errors
def bench_retrieval_loop(
    questions: Path = typer.Option(ANSWERS_DIR / "questions.jsonl", help="question set (JSON lines)"),
    manifest: Path = typer.Option(ANSWERS_DIR / "corpus.json", help="corpus manifest (page list)"),
    docs: Path = typer.Option(None, help="html dir of the pages (default: $RATCHET_ANSWERS_DOCS or the manifest's)"),
    train_limit: int = typer.Option(None, help="vote on the first N train questions only"),
    shuffled: bool = typer.Option(True, help="also train on shuffled positives; the gate must reject them"),
    max_pages: int = typer.Option(None, help="only the first N pages of the corpus (and their questions)"),
    work: Path = typer.Option(None, help="keep the run here, to run it one --stage at a time"),
    stage: str = typer.Option(None, help="with --work: setup, embedder, reranker, shuffled_embedder, "
                                         "shuffled_reranker (default: every stage not done yet)"),
) -> None:
    """Simulated votes -> trained embedder and reranker -> held-out recall before/after, a swap under load."""
    from feedback.retrieval_bench import STAGES
    from feedback.retrieval_bench import bench_retrieval_loop as _bench

    if stage and (stage not in STAGES or work is None):
        raise typer.BadParameter(f"--stage needs --work and is one of {', '.join(STAGES)}")
    pages = None
    if max_pages:
        import json

        pages = json.loads(manifest.read_text(encoding="utf-8"))["pages"][:max_pages]
    with contextlib.redirect_stdout(sys.stderr):  # trainers print; stdout is for the JSON line
        result = _bench(settings(), questions_path=questions, manifest_path=manifest, docs=docs, pages=pages,
                        train_limit=train_limit, shuffled=shuffled, work=work, stage=stage, emit=lambda _: None)
    if "total_s" in result:
        print_json(result)
    else:
        console.print(f"stages done: {', '.join(result['done'])}", style="dim")


def _register_pipeline() -> None:
    from bot.bench_pipeline import bench_pipeline

    bench_app.command("pipeline")(bench_pipeline)


_register_pipeline()


@bench_app.command("faults")
@friendly_errors
def bench_faults(
    events: int = typer.Option(1000, "--events", help="R1: events, each redelivered 1-3 times over two bots"),
    scenarios: str = typer.Option("R1,R2,R3,R4,R5,R6", "--scenarios", help="comma-separated: R1 … R6"),
    hostile: int = typer.Option(200, "--hostile", help="R5: hostile requests"),
    reactions: int = typer.Option(1000, "--reactions", help="R3: reactions while the bot is killed"),
    questions: int = typer.Option(100, "--questions", help="R3: questions while the bot is killed"),
    database_url: str = typer.Option(None, "--database-url",
                                     help="database the bots share (PostgreSQL for R1 as in Kubernetes); "
                                          "default: SQLite in a temporary directory"),
) -> None:
    """Faults and attacks: one JSON line per scenario (scenario, sent, answered, lost, duplicated, leaked)."""
    from bot.faults import run_scenarios

    names = [n.strip().upper() for n in scenarios.split(",") if n.strip()]
    run(run_scenarios(settings(), names, events=events, hostile=hostile, database_url=database_url,
                      reactions=reactions, questions=questions, emit=print_json))
