"""Feedback for the admin page, read through ``feedback.FeedbackStore``: 👍 rate plots, recent answers."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from bot.admin_web.availability import Unavailable
from bot.admin_web.charts import Series, line_chart
from engine.registry import AdapterRegistry
from engine.settings import Settings

MAX_SERIES = 6


def store(settings: Settings):
    """The feedback store, or :class:`Unavailable` when the feedback package has not landed."""
    try:
        from feedback import FeedbackStore
    except ImportError as exc:
        return Unavailable("feedback", f"the feedback store is not installed ({exc})")
    return FeedbackStore(settings)


def day_labels(days: int, today: date | None = None) -> list[date]:
    """The last ``days`` calendar days (UTC), oldest first."""
    end = today or datetime.now(timezone.utc).date()
    return [end - timedelta(days=n) for n in range(days - 1, -1, -1)]


def thumbs_rate_chart(settings: Settings, registry: AdapterRegistry) -> str | Unavailable:
    """SVG of the daily 👍 share of votes per adapter version; the legend names the aliases."""
    fb = store(settings)
    if isinstance(fb, Unavailable):
        return fb
    days = day_labels(settings.admin.plot_days)
    rates: dict[str, dict[str, float]] = defaultdict(dict)
    for row in fb.vote_rate_by_version(days=settings.admin.plot_days):
        if row["up_rate"] is not None:
            rates[row["version"]][row["day"]] = 100.0 * row["up_rate"]
    alias_of: dict[str, str] = {}
    for name, (vid, pct) in registry.aliases().items():  # production first; an idle canary names nothing
        if name == "production" or (vid and pct > 0):
            alias_of.setdefault(vid or "base", name)
    ordered = sorted(rates, key=lambda v: (v not in alias_of, v))[:MAX_SERIES]
    series = [Series(f"{v} ({alias_of[v]})" if v in alias_of else v,
                     [rates[v].get(d.isoformat()) for d in days]) for v in ordered]
    return line_chart("👍 rate per version (%)", [d.strftime("%m-%d") for d in days], series,
                      y_max=100.0, y_format="{:.0f}%")


@dataclass(frozen=True)
class FeedbackFilter:
    """The feedback page's filters (empty string = any)."""

    channel: str = ""
    version: str = ""
    downvoted_only: bool = False


def recent_answers(settings: Settings, flt: FeedbackFilter) -> list | Unavailable:
    """Newest answers (``AnswerView``) matching ``flt``, each with ``extra['sources']`` = retrieved chunk ids."""
    fb = store(settings)
    if isinstance(fb, Unavailable):
        return fb
    views = fb.recent_answers(limit=settings.admin.page_rows, channel=flt.channel or None,
                              adapter_version=flt.version or None, vote="down" if flt.downvoted_only else None)
    for view in views:
        view.extra["sources"] = list(fb.get(view.id).chunk_ids or [])
    return views


def filter_choices(settings: Settings) -> dict[str, list[str]]:
    """Channels and versions seen in recent answers, for the filter drop-downs."""
    fb = store(settings)
    if isinstance(fb, Unavailable):
        return {"channels": [], "versions": []}
    summary = fb.version_summary()
    channels = {v.channel for v in fb.recent_answers(limit=500) if v.channel}
    return {"channels": sorted(channels), "versions": sorted(summary)}
