"""Ratchet's one error tree: every error the project raises on purpose derives from :class:`RatchetError`.

An error says what failed and why in its message, and what to do about it in ``hint`` (shown on its own
line by the CLI's ``friendly_errors``). Subclasses keep a standard base next to ``RatchetError`` where
callers may expect one (``ValueError`` for bad input, ``RuntimeError`` for a failed service).
"""

from __future__ import annotations


class RatchetError(Exception):
    """Base of every Ratchet error; ``hint`` tells the user what to do (may be empty)."""

    hint: str = ""

    def __init__(self, message: str = "", *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    def user_message(self) -> str:
        """The message and, when there is one, the hint on a second line."""
        text = str(self) or type(self).__name__
        return f"{text}\nhint: {self.hint}" if self.hint else text


class RegistryError(RatchetError, ValueError):
    """An adapter registry operation was refused; nothing changed. The message says why."""
