"""Secrets never reach the feedback store: what it keeps of an answer is masked on the way in.

The question, the standalone query, the thread history, the prompt, the answer and the texts the rails
recorded (``guardrails["input_text"]``) are masked with the input rails' secret patterns (``patterns.yml``
in the guardrails config dir) and their masking (:func:`guardrails.masking.mask_text`), so a stored question reads exactly as the rails passed it on:
``[SECRET:slack_token]`` where the token was. ``guardrails.mask_secrets: false`` turns this off too.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from guardrails.masking import mask_text
from guardrails.patterns import DEFAULT_CONFIG_DIR, load_patterns

if TYPE_CHECKING:
    from engine.settings import Settings
    from feedback.store import AnswerRecord


class SecretMasker:
    """Masks secrets in the text fields of an :class:`AnswerRecord`."""

    def __init__(self, settings: Settings) -> None:
        g = settings.guardrails
        self.patterns = load_patterns(Path(g.config_dir or DEFAULT_CONFIG_DIR)).secrets if g.mask_secrets else {}

    def text(self, value: str | None) -> str | None:
        if not value or not self.patterns:
            return value
        return mask_text(value, self.patterns, None, "SECRET")[0]

    def messages(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**m, "content": self.text(m["content"])} if isinstance(m.get("content"), str) else m
                for m in messages]

    def record(self, rec: AnswerRecord) -> AnswerRecord:
        """A copy of ``rec`` with every secret in its texts masked."""
        return dataclasses.replace(
            rec, question=self.text(rec.question), standalone_query=self.text(rec.standalone_query),
            history=self.messages(rec.history), prompt=self.messages(rec.prompt), answer=self.text(rec.answer),
            guardrails={k: self.text(v) if isinstance(v, str) else v for k, v in rec.guardrails.items()},
        )
