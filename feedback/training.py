"""LoRA preference training with TRL: one config, one function, one metrics record.

``train_adapter`` runs TRL's ``DPOTrainer`` (pairs, each with its loss weight: :mod:`feedback.weighted_dpo`)
or ``KTOTrainer`` (unpaired thumbs) with a PEFT LoRA on the base model and writes the adapter to a directory.
It knows nothing about the registry or the scheduler (see ``feedback.jobs``); the benchmark compares it with a
plain TRL script.
"""

from __future__ import annotations

import gc
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import RatchetError
from engine.logs import get_logger
from engine.settings import TrainingSettings
from feedback.heldout_eval import chat_ids

if TYPE_CHECKING:
    from engine.settings import Settings
    from feedback.datasets import PreferenceData

log = get_logger(__name__)

METHODS = ("dpo", "kto")
Progress = Callable[[int, int], None]  # (step, total steps)


class TrainingError(RatchetError, RuntimeError):
    """Training could not run (bad configuration or not enough data). The message says what to do."""


def training_config(settings: Settings, **overrides: Any) -> TrainingSettings:
    """The training section of ``settings``, with keyword overrides (validated like the settings)."""
    from pydantic import ValidationError

    values = settings.feedback.training.model_dump()
    values.update(overrides)
    try:
        return TrainingSettings(**values)
    except ValidationError as exc:
        raise TrainingError(f"bad training settings: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}",
                            hint="see feedback.training in the settings") from None


@dataclass
class TrainMetrics:
    """What one run measured."""

    method: str
    train_examples: int
    steps: int
    train_loss: float | None
    duration_s: float
    peak_rss_mb: float
    truncated_examples: int = 0  # prompt + answer longer than max_length: the answer's end was cut
    log_history: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Metrics for the registry (the log history is trimmed to the last entries)."""
        out = asdict(self)
        out["log_history"] = self.log_history[-5:]
        return out


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def trl_rows(data: PreferenceData, method: str, split: str = "train") -> list[dict[str, Any]]:
    """The examples of one split in TRL's format for ``method`` (DPO rows carry their loss ``weight``)."""
    if method == "dpo":
        return [{**row.trl_row(), "weight": row.weight} for row in data.rows(method, split)]
    return [row.trl_row() for row in data.rows(method, split)]


def trainer_args(config: TrainingSettings, output_dir: Path, data: PreferenceData | None = None):
    """The TRL ``DPOConfig``/``KTOConfig`` for CPU (bf16 weights, fp32 LoRA) or a GPU when present."""
    import torch
    from trl import DPOConfig, KTOConfig

    gpu = torch.cuda.is_available()
    common = dict(
        output_dir=str(output_dir), per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum, num_train_epochs=config.epochs,
        max_steps=config.max_steps, learning_rate=config.learning_rate, beta=config.beta,
        max_length=config.max_length, gradient_checkpointing=config.gradient_checkpointing,
        use_cpu=not gpu, bf16=gpu, logging_steps=1, save_strategy="no", report_to=[], seed=config.seed,
        dataloader_num_workers=0, disable_tqdm=True,
    )
    if config.method == "dpo":
        return DPOConfig(**common, loss_type=list(config.loss_type), loss_weights=config.loss_weights)
    desirable, undesirable = data.kto_class_weights() if data is not None else (1.0, 1.0)
    return KTOConfig(**common, desirable_weight=desirable, undesirable_weight=undesirable)


def load_policy(model_dir: Path):
    """Base model (bf16 weights on CPU) and tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16)
    return model, tokenizer


def lora_config(config: TrainingSettings):
    """The PEFT LoRA configuration."""
    from peft import LoraConfig

    return LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=list(config.target_modules), task_type="CAUSAL_LM")


def _log_callback():
    from transformers import TrainerCallback

    class _Log(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            keep = ("loss", "rewards/accuracies", "rewards/margins", "learning_rate", "kl")
            log.info("training.step", step=state.global_step, of=state.max_steps,
                     **{k.replace("/", "_"): round(float(v), 5) for k, v in (logs or {}).items() if k in keep})

    return _Log()


def _progress_callback(progress: Progress):
    from transformers import TrainerCallback

    class _Progress(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            progress(state.global_step, state.max_steps)

    return _Progress()


def ensure_enough(data: PreferenceData, method: str, minimum: int = 2) -> None:
    """Raise :class:`TrainingError` when the training split is too small to train on."""
    n = len(data.rows(method, "train"))
    if n < minimum:
        raise TrainingError(f"only {n} {method.upper()} training examples (need {minimum}); collect more votes "
                            "(see `ratchet feedback stats`)")


def check_lengths(data: PreferenceData, method: str, tokenizer, max_length: int) -> int:
    """How many training examples ``max_length`` cuts. TRL silently drops an example whose prompt alone fills
    ``max_length``; when that is more than half of them, training would learn nothing from the votes, so this
    raises :class:`TrainingError` instead. Returns the number cut at the end (trained on, partly)."""
    dropped = cut = 0
    rows = data.rows(method, "train")
    for row in rows:
        prompt = len(chat_ids(tokenizer, row.prompt, generation_prompt=True))
        answers = [row.chosen, row.rejected] if method == "dpo" else [row.completion]
        longest = max(len(tokenizer(a, add_special_tokens=False)["input_ids"]) for a in answers)
        if prompt >= max_length:
            dropped += 1
        elif prompt + longest > max_length:
            cut += 1
    if dropped:
        log.warning("training.examples_too_long", dropped=dropped, cut=cut, of=len(rows), max_length=max_length)
    if dropped * 2 > len(rows):
        raise TrainingError(f"{dropped} of {len(rows)} training prompts are longer than max_length {max_length} "
                            "tokens and would be dropped", hint="raise feedback.training.max_length (prompts with "
                            "five retrieved chunks need about 1,600 tokens)")
    return cut


def train_adapter(settings: Settings, data: PreferenceData, config: TrainingSettings, out_dir: Path, *,
                  progress: Progress | None = None) -> TrainMetrics:
    """Train a LoRA adapter on the training split and save it (PEFT format) into ``out_dir``."""
    import torch
    from datasets import Dataset
    from transformers.trainer_callback import PrinterCallback
    from trl import KTOTrainer

    from feedback.weighted_dpo import WeightedDPOTrainer

    rows = trl_rows(data, config.method)
    ensure_enough(data, config.method)
    if config.threads:
        torch.set_num_threads(config.threads)
    started = time.perf_counter()
    model, tokenizer = load_policy(settings.model_dir)
    cut = check_lengths(data, config.method, tokenizer, config.max_length)
    trainer_cls = WeightedDPOTrainer if config.method == "dpo" else KTOTrainer
    trainer = trainer_cls(
        model=model, args=trainer_args(config, out_dir / "trainer", data), train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer, peft_config=lora_config(config),
        callbacks=[_progress_callback(progress)] if progress else None,
    )
    trainer.remove_callback(PrinterCallback)  # structured log lines instead of printed dicts
    trainer.add_callback(_log_callback())
    result = trainer.train()
    trainer.model.save_pretrained(str(out_dir / "adapter"))
    metrics = TrainMetrics(
        method=config.method, train_examples=len(rows), steps=int(result.global_step),
        train_loss=float(result.training_loss) if result.training_loss is not None else None,
        duration_s=round(time.perf_counter() - started, 2), peak_rss_mb=round(peak_rss_mb(), 1),
        truncated_examples=cut, log_history=list(trainer.state.log_history),
    )
    log.info("training.finished", method=config.method, examples=len(rows), steps=metrics.steps,
             loss=metrics.train_loss, seconds=metrics.duration_s)
    # the trainer's reference cycles keep the model and optimiser state alive otherwise: a second run in the same
    # process (as `ratchet bench loop` trains the flipped candidate) was killed for memory
    del trainer, model
    gc.collect()
    return metrics
