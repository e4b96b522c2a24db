"""The learning loop: feedback store → preference data → LoRA training → evaluation gate → promotion.

What the rest of Ratchet may use is re-exported here (lazily: ``engine.settings`` imports this package's
settings section, so importing the store eagerly here would be circular).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AnswerRecord": "feedback.store",
    "AnswerView": "feedback.store",
    "FeedbackError": "feedback.store",
    "FeedbackStore": "feedback.store",
    "UnknownAnswer": "feedback.store",
    "question_key": "feedback.store",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'feedback' has no attribute {name!r}")
