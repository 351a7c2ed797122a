"""Server-side SVG charts: a caregiver's scores over time with cut-off lines.

No JavaScript charting library: the chart is plain inline SVG with a title and description for
screen readers, and the page shows the same numbers in a table next to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class Cutoff:
    value: float
    label: str
    op: str = ">="  # the direction that flags: ">=", ">", "<=", "<"

    @property
    def symbol(self) -> str:
        return {">=": "≥", ">": ">", "<=": "≤", "<": "<"}.get(self.op, self.op)

    def flags(self, score: float) -> bool:
        return {">=": score >= self.value, ">": score > self.value,
                "<=": score <= self.value, "<": score < self.value}.get(self.op, False)


def score_chart(
    title: str,
    points: list[tuple[str, float]],
    *,
    low: float,
    high: float,
    cutoffs: list[Cutoff] | None = None,
    width: int = 420,
    height: int = 200,
) -> str:
    """An SVG line chart of ``points`` (x label, score) on a fixed ``low``..``high`` axis.

    The axis is the scale's full range so charts of the same instrument compare by eye.
    Cut-off lines are dashed and labelled; a score on the flagged side of any cut-off (at or
    above it, or at or below it for scales where low is worse) is drawn as a diamond instead of
    a circle, so the difference does not rely on colour alone.
    """
    cutoffs = cutoffs or []
    left, right, top, bottom = 40, 46, 14, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    span = (high - low) or 1.0

    def y(v: float) -> float:
        return top + plot_h - (min(max(v, low), high) - low) / span * plot_h

    n = len(points)

    def x(i: int) -> float:
        return left + (plot_w / 2 if n == 1 else i * plot_w / (n - 1))

    desc_bits = [f"{label}: {value:g}" for label, value in points]
    if cutoffs:
        desc_bits.append("cut-offs " + ", ".join(f"{c.label} at {c.value:g}" for c in cutoffs))
    out = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f"<desc>{escape('; '.join(desc_bits) or 'no scores yet')}</desc>",
        f'<rect class="plot" x="{left}" y="{top}" width="{plot_w}" height="{plot_h}"/>',
    ]
    for tick in _ticks(low, high):
        ty = y(tick)
        out.append(f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{ty:.1f}" y2="{ty:.1f}"/>')
        out.append(
            f'<text class="tick" x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end">{tick:g}</text>'
        )
    for c in cutoffs:
        cy = y(c.value)
        out.append(
            f'<line class="cutoff" x1="{left}" x2="{left + plot_w}" y1="{cy:.1f}" y2="{cy:.1f}"/>'
        )
        out.append(
            f'<text class="cutoff-label" x="{left + plot_w + 4}" y="{cy + 4:.1f}">'
            f"{c.symbol} {c.value:g}</text>"
        )
    if n > 1:
        path = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, (_, v) in enumerate(points))
        out.append(f'<polyline class="series" points="{path}"/>')
    for i, (label, value) in enumerate(points):
        px, py = x(i), y(value)
        if any(c.flags(value) for c in cutoffs):
            out.append(
                f'<path class="point above" d="M{px:.1f},{py - 7:.1f} L{px + 7:.1f},{py:.1f} '
                f'L{px:.1f},{py + 7:.1f} L{px - 7:.1f},{py:.1f} Z"/>'
            )
        else:
            out.append(f'<circle class="point" cx="{px:.1f}" cy="{py:.1f}" r="4.5"/>')
        out.append(
            f'<text class="value" x="{px:.1f}" y="{py - 10:.1f}" text-anchor="middle">{value:g}</text>'
        )
        out.append(
            f'<text class="tick" x="{px:.1f}" y="{height - 12}" text-anchor="middle">'
            f"{escape(_short(label))}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _short(label: str, n: int = 14) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"


def _ticks(low: float, high: float) -> list[float]:
    span = high - low
    if span <= 0:
        return [low]
    for step in (1, 2, 5, 10, 20, 25, 50, 100):
        if span / step <= 6:
            break
    first = step * -(-low // step)
    ticks, t = [], first
    while t <= high + 1e-9:
        ticks.append(t)
        t += step
    return ticks
