"""`ratchet bench train`: Ratchet's training job against a plain TRL script on the same data and settings.

Both run in this process, one after the other, after the heavy imports are done. ``train_s`` is the whole
job (dataset build from the store, lock, training, atomic registration); ``plain_trl_s`` is a minimal
DPO script (load model, DPOTrainer with the same config, train, save).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.registry import AdapterRegistry
from engine.settings import TrainingSettings
from feedback.datasets import build_preference_data
from feedback.heldout_eval import heldout_metrics
from feedback.jobs import run_training
from feedback.store import FeedbackStore
from feedback.synthetic import seed_pairs
from feedback.training import peak_rss_mb, trainer_args, training_config


def plain_trl_dpo(model_dir: Path, rows: list[dict], config: TrainingSettings, out_dir: Path) -> float:
    """The reference: TRL's documented DPO + LoRA recipe, nothing else. Returns seconds."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOTrainer

    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16)
    peft = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=config.target_modules, task_type="CAUSAL_LM")
    trainer = DPOTrainer(model=model, args=trainer_args(config, out_dir), train_dataset=Dataset.from_list(rows),
                         processing_class=tokenizer, peft_config=peft)
    trainer.train()
    trainer.model.save_pretrained(str(out_dir / "adapter"))
    return time.perf_counter() - start


def bench_train(settings_factory, *, pairs: int, overrides: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Seed ``pairs`` synthetic questions, time both trainings, evaluate on held-out; yields JSON rows."""
    import torch  # noqa: F401  heavy imports before any timing
    import trl  # noqa: F401

    with tempfile.TemporaryDirectory(prefix="ratchet-bench-train-") as tmp:
        settings = settings_factory(Path(tmp) / "data")
        store = FeedbackStore(settings)
        seed_pairs(store, pairs)
        data = build_preference_data(store)
        config = training_config(settings, method="dpo", **overrides)
        rows = [p.trl_row() for p in data.pairs["train"]]
        plain_s = plain_trl_dpo(settings.model_dir, rows, config, Path(tmp) / "plain")
        start = time.perf_counter()
        outcome = run_training(settings, trigger="bench", overrides={"method": "dpo", **overrides}, evaluate=False)
        train_s = time.perf_counter() - start
        version = AdapterRegistry(settings).get(outcome.version_id)
        held = heldout_metrics(settings.model_dir, Path(version.path), data, beta=config.beta,
                               max_length=config.max_length)
        yield {
            "bench": "train", "pairs": pairs, "train_pairs": len(rows), "heldout_pairs": held["heldout_n"],
            "steps": outcome.metrics.get("steps"), "train_s": round(train_s, 2), "plain_trl_s": round(plain_s, 2),
            "overhead_ratio": round(train_s / plain_s, 3), "heldout_reward_acc": round(held["reward_accuracy"], 3),
            "heldout_reward_margin": round(held["reward_margin"], 4),
            "heldout_token_margin_delta": round(held["token_margin_delta"], 4), "peak_rss_mb": round(peak_rss_mb(), 1),
        }
