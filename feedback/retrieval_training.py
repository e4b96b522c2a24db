"""Retrieval-model training from votes: one config, one function per model, one metrics record.

- ``train_embedder``: fine-tunes the sentence-transformers embedding model (the packaged all-MiniLM-L6-v2 unless
  ``rag.embedding_model`` names another) with ``MultipleNegativesRankingLoss`` on (question, cited chunk,
  hard negative) triplets: each question is pulled towards the chunk that answered it and pushed away from its
  hard negative and from every other chunk in the batch.
- ``train_reranker``: trains a cross-encoder from the same MiniLM weights (a new one-logit head) with
  ``BinaryCrossEntropyLoss`` on (question, chunk, 1/0) pairs: cited chunks 1, hard negatives 0.

Both run on CPU, write the model into a directory and know nothing about the registry (``feedback.retrieval_jobs``
registers and gates). The config is ``feedback.retrieval`` in the settings (``RetrievalTrainingSettings``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.logs import get_logger
from engine.rag.embedder import default_model_path
from engine.retrieval_models import EMBEDDER, RERANKER
from engine.settings import RetrievalTrainingSettings, Settings
from feedback.retrieval_data import RetrievalData
from feedback.training import TrainingError, peak_rss_mb

log = get_logger(__name__)
Progress = Callable[[int, int], None]  # (step, total steps)


@dataclass
class RetrievalTrainMetrics:
    """What one retrieval training run measured."""

    kind: str
    base_model: str
    train_rows: int
    steps: int
    train_loss: float | None
    duration_s: float
    peak_rss_mb: float
    log_history: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["log_history"] = self.log_history[-3:]
        return out


def base_model(settings: Settings) -> str:
    """The weights both trainers start from: the configured embedding model or the packaged MiniLM."""
    return str(settings.rag.embedding_model or default_model_path())


def _callbacks(progress: Progress | None) -> list:
    from transformers import TrainerCallback

    class _Report(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if progress is not None:
                progress(state.global_step, state.max_steps)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                log.info("retrieval_training.step", step=state.global_step, of=state.max_steps,
                         loss=round(float(logs["loss"]), 5))

    return [_Report()]


def _common_args(config: RetrievalTrainingSettings, out_dir: Path, learning_rate: float) -> dict[str, Any]:
    return dict(output_dir=str(out_dir / "trainer"), num_train_epochs=config.epochs,
                per_device_train_batch_size=config.batch_size, learning_rate=learning_rate,
                warmup_ratio=config.warmup_ratio, seed=config.seed, use_cpu=True, save_strategy="no", report_to=[],
                logging_steps=5, disable_tqdm=True, dataloader_num_workers=0)


def _run(trainer, kind: str, base: str, rows: int, started: float) -> RetrievalTrainMetrics:
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    result = trainer.train()
    metrics = RetrievalTrainMetrics(
        kind=kind, base_model=base, train_rows=rows, steps=int(result.global_step),
        train_loss=round(float(result.training_loss), 5) if result.training_loss is not None else None,
        duration_s=round(time.perf_counter() - started, 2), peak_rss_mb=round(peak_rss_mb(), 1),
        log_history=[{k: v for k, v in h.items() if isinstance(v, (int, float))} for h in trainer.state.log_history])
    log.info("retrieval_training.finished", kind=kind, rows=rows, steps=metrics.steps, loss=metrics.train_loss,
             seconds=metrics.duration_s)
    return metrics


def _threads(config: RetrievalTrainingSettings) -> None:
    if config.threads:
        import torch

        torch.set_num_threads(config.threads)


def train_embedder(settings: Settings, data: RetrievalData, config: RetrievalTrainingSettings, out_dir: Path, *,
                   progress: Progress | None = None) -> RetrievalTrainMetrics:
    """Fine-tune the embedding model on the training split; saves it to ``out_dir / "model"``."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, \
        SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers

    rows = data.triplets("train")
    if len({r["anchor"] for r in rows}) < config.min_train_questions:
        raise TrainingError(f"only {len(rows)} retrieval training rows from "
                            f"{len(data.with_positives('train'))} questions (need {config.min_train_questions} "
                            "questions with a cited chunk); collect more votes")
    _threads(config)
    started = time.perf_counter()
    base = base_model(settings)
    model = SentenceTransformer(base, device="cpu", local_files_only=True)
    model.max_seq_length = config.max_seq_length
    args = SentenceTransformerTrainingArguments(**_common_args(config, out_dir, config.learning_rate),
                                                batch_sampler=BatchSamplers.NO_DUPLICATES)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                                         loss=MultipleNegativesRankingLoss(model), callbacks=_callbacks(progress))
    metrics = _run(trainer, EMBEDDER, base, len(rows), started)
    model.save(str(out_dir / "model"))
    return metrics


def train_reranker(settings: Settings, data: RetrievalData, config: RetrievalTrainingSettings, out_dir: Path, *,
                   progress: Progress | None = None) -> RetrievalTrainMetrics:
    """Train a cross-encoder from the MiniLM weights on labelled pairs; saves it to ``out_dir / "model"``."""
    from datasets import Dataset
    from sentence_transformers import CrossEncoder, CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    rows = data.labelled_pairs("train", config.negatives_per_question)
    positives = sum(1 for r in rows if r["label"] > 0)
    if len({r["query"] for r in rows if r["label"] > 0}) < config.min_train_questions or positives == len(rows):
        raise TrainingError(f"only {positives} positive and {len(rows) - positives} negative reranker rows "
                            f"(need {config.min_train_questions} questions with a cited chunk, and negatives)")
    _threads(config)
    started = time.perf_counter()
    base = base_model(settings)
    model = CrossEncoder(base, num_labels=1, max_length=config.max_seq_length, device="cpu", local_files_only=True)
    negatives = len(rows) - positives
    loss = BinaryCrossEntropyLoss(model, pos_weight=_pos_weight(negatives, positives))
    args = CrossEncoderTrainingArguments(**_common_args(config, out_dir, config.reranker_learning_rate))
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), loss=loss,
                                  callbacks=_callbacks(progress))
    metrics = _run(trainer, RERANKER, base, len(rows), started)
    model.save_pretrained(str(out_dir / "model"))
    return metrics


def _pos_weight(negatives: int, positives: int):
    import torch

    return torch.tensor(max(1.0, negatives / max(1, positives)))


TRAINERS = {EMBEDDER: train_embedder, RERANKER: train_reranker}
