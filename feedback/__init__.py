"""The learning loop: feedback store → preference data → LoRA training → evaluation gate → promotion.

What the rest of Ratchet may use:
"""

from __future__ import annotations

from feedback.store import AnswerRecord, AnswerView, FeedbackError, FeedbackStore, UnknownAnswer, question_key

__all__ = [
    "AnswerRecord",  # what the pipeline records for every answer
    "AnswerView",  # an answer with its votes, for the admin page
    "FeedbackError",
    "FeedbackStore",  # answers, votes, training runs
    "UnknownAnswer",
    "question_key",  # the normalised key one question's answers share
]
