"""Settings section owned by ``feedback/`` (store, datasets, training, gate). Pydantic only."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FeedbackSettings(BaseModel):
    """The learning loop."""

    hash_askers: bool = False
    asker_hash_salt: str = Field(default="", description="salt for hashed asker/voter ids (keep secret)")
    retention_days: int | None = None
    heldout_fraction: float = Field(default=0.2, ge=0.0, lt=1.0, description="share of questions held out")
    split_salt: str = Field(default="ratchet", description="changes which questions are held out")
    contradiction_majority: float = Field(default=0.75, gt=0.5, le=1.0,
                                          description="share of agreeing votes an answer needs to be labelled")
    max_examples_per_question: int = Field(default=1, ge=1, description="dedupe: examples kept per question")
    regenerate_temperature: float = 0.9
    train_cron: str | None = Field(default=None, description="crontab expression, e.g. '0 3 * * *'")
    train_min_new_examples: int = 50
    train_method: str = Field(default="dpo", description="'dpo' or 'kto'")
    lora_r: int = 16
    lora_alpha: int = 32
    learning_rate: float = 1e-6
    epochs: float = 1.0
    batch_size: int = 4
    max_length: int = 1024
    beta: float = 0.1
    gate_min_reward_accuracy: float = 0.6
    gate_min_token_margin_delta: float = 0.0
    auto_canary_percent: float = 0.0
