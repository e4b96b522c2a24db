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
    train_check_interval_s: float = Field(default=60.0, gt=0, description="how often the N-examples trigger looks")
    lock_stale_s: float = Field(default=300.0, gt=0, description="a training lock without heartbeat is dead after")
    lora_r: int = Field(default=16, ge=1, le=64)
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    # TRL's defaults (lr 1e-6, gradient checkpointing on, max_length 1024) are tuned for full fine-tuning on
    # GPUs; LoRA on a small model on CPU wants a larger step, no checkpointing, shorter sequences.
    learning_rate: float = Field(default=5e-5, gt=0)
    gradient_checkpointing: bool = False
    epochs: float = Field(default=1.0, gt=0)
    max_steps: int = Field(default=-1, description="stop after this many steps (-1 = the epochs)")
    batch_size: int = Field(default=4, ge=1)
    grad_accum: int = Field(default=1, ge=1)
    max_length: int = Field(default=512, ge=32)
    beta: float = Field(default=0.1, gt=0)
    seed: int = 42
    train_threads: int | None = Field(default=None, description="torch CPU threads (default: torch's own)")
    gate_min_reward_accuracy: float = Field(default=0.6, ge=0.0, le=1.0, description="held-out implicit-reward accuracy")
    gate_min_reward_margin: float = Field(default=0.0, description="mean held-out implicit-reward margin")
    gate_min_token_margin_delta: float = Field(
        default=0.0, description="per-token log-prob margin (chosen - rejected) gain over the base model")
    gate_min_heldout: int = Field(default=2, ge=1, description="fewer held-out examples = the gate fails")
    gate_generation_prompts: int = Field(default=8, ge=0, description="held-out prompts generated (0 = skip)")
    gate_generation_max_tokens: int = Field(default=64, ge=1)
    gate_max_citation_drop: float = Field(default=0.2, description="allowed drop of the citation rate vs production")
    gate_max_refusal_increase: float = Field(default=0.2, description="allowed rise of the refusal rate vs production")
    gate_length_ratio: tuple[float, float] = Field(default=(0.3, 3.0), description="candidate/production mean length")
    refusal_markers: list[str] = Field(default_factory=lambda: [
        "i don't know", "i do not know", "not enough", "cannot answer", "can't answer", "i'm sorry"])
    auto_canary_percent: float = Field(default=0.0, ge=0.0, le=100.0,
                                       description="put a candidate that passes the gate on canary at this percent")
