"""Guardrails: NeMo Guardrails input, retrieval and output rails, offline and fast.

What the rest of Ratchet may use:

- :class:`Guardrails` — ``precheck_input`` (cheap, sync), ``check_input`` (adds the NeMo self-check),
  ``check_chunks``, ``check_output``, ``stream_output``, ``record_refusal``.
- :class:`RailVerdict`, :class:`OutputEvent` — what the rails return.
- :func:`list_refusals` — the refusal log for the admin page.

Exports are imported lazily: ``engine.settings`` imports ``guardrails.settings_section`` and must not
pull in the rails (and NeMo) with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "GuardrailConfigError": "guardrails.patterns",
    "Guardrails": "guardrails.rails",
    "OutputEvent": "guardrails.verdict",
    "RailVerdict": "guardrails.verdict",
    "RefusalRow": "guardrails.refusals",
    "list_refusals": "guardrails.refusals",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from guardrails.patterns import GuardrailConfigError
    from guardrails.rails import Guardrails
    from guardrails.refusals import RefusalRow, list_refusals
    from guardrails.verdict import OutputEvent, RailVerdict


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'guardrails' has no attribute {name!r}")
