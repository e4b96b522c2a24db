"""Guardrails: NeMo Guardrails input, retrieval and output rails, offline and fast.

What the rest of Ratchet may use:
"""

from __future__ import annotations

from guardrails.patterns import GuardrailConfigError
from guardrails.rails import Guardrails
from guardrails.refusals import RefusalRow, list_refusals
from guardrails.verdict import OutputEvent, RailVerdict

__all__ = [
    "GuardrailConfigError",
    "Guardrails",  # precheck_input, check_input, check_chunks, output_checks, stream_output, record_refusal
    "OutputEvent",  # a checked piece of a streamed answer
    "RailVerdict",  # what a rail decides
    "RefusalRow",
    "list_refusals",  # the refusal log for the admin page
]
