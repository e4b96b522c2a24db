"""Settings section owned by ``guardrails/``. Pydantic only."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class GuardrailSettings(BaseModel):
    """Which rails run, their thresholds, and how text is masked.

    Rails run cheapest first: size limit, unicode normalisation, patterns, secret masking and the
    embedding-similarity detector are local and fast; the NeMo self-checks call the model.
    """

    enabled: bool = True
    config_dir: Path | None = Field(
        default=None, description="NeMo Guardrails config dir; default: the packaged guardrails/config"
    )
    # --- input rails ---------------------------------------------------------------------------------
    max_input_chars: int = Field(default=4000, ge=1, description="longer questions are refused")
    jailbreak_patterns: bool = Field(default=True, description="regex patterns for jailbreak phrasings")
    semantic_detector: bool = Field(default=True, description="learned detector over the question's embedding")
    detector_dir: Path | None = Field(
        default=None, description="learned detector artifact (a version dir, or one with a 'current' file); "
                                  "default: <data_dir>/guardrails/detector, else the packaged baseline",
    )
    detector_threshold: float | None = Field(
        default=None, ge=0.0, le=1.0, description="attack probability that refuses; default: the artifact's"
    )
    self_check_input: bool = Field(default=True, description="NeMo self check input (LLM call)")
    self_check_output: bool = Field(default=True, description="NeMo self check output (LLM call)")
    self_check_alone_blocks: bool = Field(
        default=False,
        description="a self-check 'block' refuses on its own; off: it needs the learned detector's suspicion",
    )
    self_check_max_tokens: int = Field(default=2, ge=1, le=16)
    self_check_timeout_s: float = Field(
        default=5.0, gt=0, description="a self-check slower than this is skipped (flag self_check_unavailable)"
    )
    mask_secrets: bool = True
    # --- retrieval rails -----------------------------------------------------------------------------
    chunk_injection: Literal["drop", "neutralise", "off"] = Field(
        default="drop", description="what to do with a retrieved chunk that gives the assistant orders"
    )
    mask_pii_in_chunks: bool = True
    pii_kinds: list[str] = Field(
        default_factory=lambda: ["email", "phone", "iban", "credit_card", "ssn"],
        description="PII kinds masked in chunks and answers",
    )
    # --- output rails --------------------------------------------------------------------------------
    fact_check: bool = True
    fact_check_action: Literal["flag", "block"] = Field(
        default="flag", description="unsupported answers: flag as 'unverified' or refuse"
    )
    fact_check_min_support: float = Field(
        default=0.5, ge=0.0, le=1.0, description="share of answer sentences that must be supported"
    )
    fact_check_sentence_similarity: float = Field(
        default=0.55, ge=0.0, le=1.0, description="a sentence is supported when this close to a chunk sentence"
    )
    mask_output: bool = True
    # --- streaming -----------------------------------------------------------------------------------
    stream_chunk_size: int = Field(default=32, ge=1, description="deltas per checked streaming chunk")
    stream_context_size: int = Field(default=4, ge=0, description="deltas carried over as context")
    stream_first: bool = Field(
        default=True,
        description="show a chunk while its check runs (a blocked answer is then retracted as a whole); "
                    "false: show a chunk only after its check passed (first text ~ one check later)",
    )
    torch_threads: int | None = Field(
        default=1, ge=1,
        description="torch threads while the rails embed; 1 avoids oversubscribing a CPU shared with vLLM "
                    "(measured 34 ms vs 1,070 ms per question here); None = leave torch's setting",
    )
    # --- refusal log ---------------------------------------------------------------------------------
    record_refusals: bool = True
