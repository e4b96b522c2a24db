"""Guardrails for the admin page: refusals by rail per day, recent blocked inputs (masked)."""

from __future__ import annotations

from bot.admin_web.availability import Unavailable
from engine.settings import Settings


def refusals_chart(settings: Settings) -> str | Unavailable:
    """SVG of refusals per rail per day."""
    return Unavailable("guardrails", "the guardrails refusals table has not landed in this build")


def recent_blocked(settings: Settings) -> list | Unavailable:
    """The newest blocked inputs, masked."""
    return Unavailable("guardrails", "the guardrails refusals table has not landed in this build")
