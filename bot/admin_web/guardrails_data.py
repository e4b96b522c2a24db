"""Guardrails for the admin page, from the guardrails package's ``refusals`` table."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time, timezone

from sqlalchemy import func, select

from bot.admin_web.charts import Series, day_labels, line_chart
from engine.db import session_factory
from engine.settings import Settings
from guardrails.refusals import Refusal, RefusalRow, list_refusals
from guardrails.verdicts import VerdictRow, list_verdicts


def refusals_chart(settings: Settings) -> str:
    """SVG of refusals per rail per day over ``admin.plot_days``."""
    days = day_labels(settings.admin.plot_days)
    since = datetime.combine(days[0], time.min, tzinfo=timezone.utc)
    day = func.date(Refusal.at)
    query = (select(Refusal.rail, day, func.count()).where(Refusal.at >= since)
             .group_by(Refusal.rail, day))
    with session_factory(settings.db_url)() as session:
        rows = session.execute(query).all()
    counts: dict[str, dict[str, float]] = defaultdict(dict)
    for rail, when, n in rows:
        counts[rail][str(when)] = float(n)
    series = [Series(rail, [counts[rail].get(d.isoformat(), 0.0) for d in days]) for rail in sorted(counts)]
    return line_chart("refusals per rail per day", [d.strftime("%m-%d") for d in days], series, y_format="{:g}")


def recent_blocked(settings: Settings) -> list[RefusalRow]:
    """The newest refusals (the input was masked before it was stored)."""
    return list_refusals(settings.db_url, limit=settings.admin.page_rows)


def recent_verdicts(settings: Settings, status: str | None = None) -> list[VerdictRow]:
    """Admins' and Slack users' verdicts on the input rails, newest first (optionally of one status)."""
    return list_verdicts(settings.db_url, status=status, limit=settings.admin.page_rows)
