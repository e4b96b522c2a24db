"""Honest "not available" for admin page sections whose backing service or package cannot be read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Unavailable:
    """Why a section cannot be shown (rendered instead of made-up data)."""

    section: str
    reason: str
