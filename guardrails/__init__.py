"""Guardrails: NeMo Guardrails input, retrieval and output rails, offline and fast.

What the rest of Ratchet may use:
"""

from __future__ import annotations

from guardrails.patterns import GuardrailConfigError
from guardrails.rails import Guardrails
from guardrails.refusals import RefusalRow, list_refusals
from guardrails.verdict import OutputEvent, RailVerdict
from guardrails.verdicts import decide_verdict, list_verdicts, report_verdict

__all__ = [
    "GuardrailConfigError",
    "Guardrails",  # precheck_input, check_input, check_chunks, output_checks, stream_output, record_refusal
    "OutputEvent",  # a checked piece of a streamed answer
    "RailVerdict",  # what a rail decides
    "RefusalRow",
    "list_refusals",  # the refusal log for the admin page
    "report_verdict",  # an admin's or a Slack user's verdict on an input decision
    "decide_verdict",  # an admin confirms or dismisses a pending verdict
    "list_verdicts",
]
