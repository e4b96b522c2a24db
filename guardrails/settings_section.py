"""Settings section owned by ``guardrails/``. Pydantic only."""

from __future__ import annotations

from pydantic import BaseModel


class GuardrailSettings(BaseModel):
    """Which rails run and their thresholds."""

    enabled: bool = True
    max_input_chars: int = 4000
    self_check_input: bool = True
    self_check_output: bool = True
    fact_check: bool = True
    mask_pii_in_chunks: bool = True
    mask_secrets: bool = True
