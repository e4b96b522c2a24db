"""Server-rendered SVG charts: scaling, gaps, escaping and the empty state."""

from __future__ import annotations

import re
from datetime import date

from bot.admin_web.charts import Series, day_labels, line_chart


def test_points_scale_to_the_plot_and_gaps_are_skipped() -> None:
    svg = line_chart("rate", ["a", "b", "c"], [Series("v1", [0.0, None, 100.0])], y_max=100.0)
    ys = [float(y) for y in re.findall(r'<circle cx="[\d.]+" cy="([\d.]+)"', svg)]
    assert len(ys) == 2 and ys[0] > ys[1], "0% is drawn below 100%"
    assert svg.count("<polyline") == 1


def test_names_are_escaped_and_empty_data_says_so() -> None:
    svg = line_chart("t", ["d"], [Series("<script>x</script>", [1.0])])
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    empty = line_chart("refusals", ["d1", "d2"], [Series("rail", [None, None])])
    assert "no data yet" in empty and "<circle" not in empty


def test_day_labels_end_today_oldest_first() -> None:
    assert day_labels(3, today=date(2026, 3, 1)) == [date(2026, 2, 27), date(2026, 2, 28), date(2026, 3, 1)]
