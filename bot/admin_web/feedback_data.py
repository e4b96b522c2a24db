"""Feedback for the admin page, read through ``feedback.FeedbackStore``: 👍 rate plots, recent answers."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from bot.admin_web.charts import Series, day_labels, line_chart
from engine.registry import AdapterRegistry
from engine.settings import Settings
from feedback import AnswerView, FeedbackStore

MAX_SERIES = 6


def thumbs_rate_chart(settings: Settings, registry: AdapterRegistry) -> str:
    """SVG of the daily 👍 share of votes per adapter version; the legend names the aliases."""
    fb = FeedbackStore(settings)
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


def recent_answers(settings: Settings, flt: FeedbackFilter) -> list[AnswerView]:
    """Newest answers (``AnswerView``) matching ``flt``, each with ``extra['sources']`` = retrieved chunk ids."""
    fb = FeedbackStore(settings)
    views = fb.recent_answers(limit=settings.admin.page_rows, channel=flt.channel or None,
                              adapter_version=flt.version or None, vote="down" if flt.downvoted_only else None)
    for view in views:
        view.extra["sources"] = list(fb.get(view.id).chunk_ids or [])
    return views


def filter_choices(settings: Settings) -> dict[str, list[str]]:
    """Channels and versions seen in recent answers, for the filter drop-downs."""
    fb = FeedbackStore(settings)
    summary = fb.version_summary()
    channels = {v.channel for v in fb.recent_answers(limit=500) if v.channel}
    return {"channels": sorted(channels), "versions": sorted(summary)}
