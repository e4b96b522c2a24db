"""Server-rendered SVG line charts (no JavaScript): one line per series over shared x labels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from html import escape

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563")
WIDTH, HEIGHT, PAD_L, PAD_R, PAD_T, PAD_B = 720, 220, 44, 200, 12, 28


def day_labels(days: int, today: date | None = None) -> list[date]:
    """The last ``days`` calendar days (UTC), oldest first."""
    end = today or datetime.now(timezone.utc).date()
    return [end - timedelta(days=n) for n in range(days - 1, -1, -1)]


@dataclass(frozen=True)
class Series:
    """One line: a name and one value (or None = no data) per x label."""

    name: str
    values: list[float | None]


def line_chart(title: str, labels: list[str], series: list[Series], *, y_max: float | None = None,
               y_format: str = "{:.0f}") -> str:
    """An accessible SVG chart; an empty-state message when no series has a value."""
    points = [v for s in series for v in s.values if v is not None]
    if not labels or not points:
        return (f'<svg class="chart" role="img" aria-label="{escape(title)}: no data" width="{WIDTH}" '
                f'height="60"><text x="8" y="34" class="empty">{escape(title)}: no data yet</text></svg>')
    top = y_max if y_max is not None else (max(points) or 1.0)
    plot_w, plot_h = WIDTH - PAD_L - PAD_R, HEIGHT - PAD_T - PAD_B

    def x(i: int) -> float:
        return PAD_L + (plot_w * i / (len(labels) - 1) if len(labels) > 1 else plot_w / 2)

    def y(v: float) -> float:
        return PAD_T + plot_h * (1 - min(v, top) / top)

    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}"><title>{escape(title)}</title>']
    for frac in (0, 0.5, 1):
        yy = y(top * frac)
        parts.append(f'<line x1="{PAD_L}" x2="{PAD_L + plot_w}" y1="{yy:.1f}" y2="{yy:.1f}" class="grid"/>'
                     f'<text x="{PAD_L - 4}" y="{yy + 4:.1f}" text-anchor="end">{escape(y_format.format(top * frac))}</text>')
    step = max(1, len(labels) // 6)
    for i in range(0, len(labels), step):
        parts.append(f'<text x="{x(i):.1f}" y="{HEIGHT - 8}" text-anchor="middle">{escape(labels[i])}</text>')
    for n, s in enumerate(series):
        color = PALETTE[n % len(PALETTE)]
        coords = [(x(i), y(v)) for i, v in enumerate(s.values) if v is not None]
        if len(coords) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in coords)
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
        parts.extend(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{color}"/>' for px, py in coords)
        ly = PAD_T + 14 + 16 * n
        parts.append(f'<rect x="{WIDTH - PAD_R + 10}" y="{ly - 9}" width="10" height="10" fill="{color}"/>'
                     f'<text x="{WIDTH - PAD_R + 24}" y="{ly}" class="legend">{escape(s.name)}</text>')
    parts.append("</svg>")
    return "".join(parts)
