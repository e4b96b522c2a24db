"""Guardrails for the admin page, from the guardrails package's ``refusals`` table."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time, timezone

from sqlalchemy import func, select

from bot.admin_web.availability import Unavailable
from bot.admin_web.charts import Series, line_chart
from bot.admin_web.feedback_data import day_labels
from engine.db import session_factory
from engine.settings import Settings


def _refusals():
    try:
        from guardrails import refusals
    except ImportError as exc:
        return Unavailable("guardrails", f"the guardrails refusals table is not installed ({exc})")
    return refusals


def refusals_chart(settings: Settings) -> str | Unavailable:
    """SVG of refusals per rail per day over ``admin.plot_days``."""
    mod = _refusals()
    if isinstance(mod, Unavailable):
        return mod
    days = day_labels(settings.admin.plot_days)
    since = datetime.combine(days[0], time.min, tzinfo=timezone.utc)
    day = func.date(mod.Refusal.at)
    query = (select(mod.Refusal.rail, day, func.count()).where(mod.Refusal.at >= since)
             .group_by(mod.Refusal.rail, day))
    with session_factory(settings.db_url)() as session:
        rows = session.execute(query).all()
    counts: dict[str, dict[str, float]] = defaultdict(dict)
    for rail, when, n in rows:
        counts[rail][str(when)] = float(n)
    series = [Series(rail, [counts[rail].get(d.isoformat(), 0.0) for d in days]) for rail in sorted(counts)]
    return line_chart("refusals per rail per day", [d.strftime("%m-%d") for d in days], series, y_format="{:g}")


def recent_blocked(settings: Settings) -> list | Unavailable:
    """The newest refusals (``RefusalRow``, input already masked when stored)."""
    mod = _refusals()
    if isinstance(mod, Unavailable):
        return mod
    return mod.list_refusals(settings.db_url, limit=settings.admin.page_rows)
