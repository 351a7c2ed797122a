"""Server-side SVG charts: a caregiver's scores over time with cut-off lines.

No JavaScript charting library: the chart is plain inline SVG with a title and description for
screen readers, and the page shows the same numbers in a table next to it. SVG made elsewhere
(the CONSORT diagram of :mod:`attunement.trials`) is reduced to presentational elements before
it is inlined (:func:`presentational_svg`).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass


@dataclass(frozen=True)
class Cutoff:
    """A cut-off line on a score chart, and the side of it that flags.

    Attributes
    ----------
    value : float
        Where the line is drawn.
    label : str
        What crossing it means (``"possible depression"``).
    op : str
        The direction that flags: ``">="``, ``">"``, ``"<="`` or ``"<"``.
    """
    value: float
    label: str
    op: str = ">="  # the direction that flags: ">=", ">", "<=", "<"

    @property
    def symbol(self) -> str:
        return {">=": "≥", ">": ">", "<=": "≤", "<": "<"}.get(self.op, self.op)

    def flags(self, score: float) -> bool:
        """Whether a score lies on the flagged side of this cut-off.

        Parameters
        ----------
        score : float
            A scale score in the scale's own points; a score exactly at the cut-off is
            flagged for ``>=`` and ``<=`` only.

        Returns
        -------
        bool
            True when ``score`` meets the cut-off in its direction.
        """
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
    y_label: str = "Score",
) -> str:
    """An SVG line chart of ``points`` (x label, score) on a fixed ``low``..``high`` axis.

    The axis is the scale's full range so charts of the same instrument compare by eye.
    Cut-off lines are dashed and labelled; a score on the flagged side of any cut-off (at or
    above it, or at or below it for scales where low is worse) is drawn as a diamond instead of
    a circle, so the difference does not rely on colour alone.

    Parameters
    ----------
    title : str
        The chart's title (also its accessible name).
    points : list of (str, float)
        The time point label and the score, in order.
    low, high : float
        The scale's range: the y axis.
    cutoffs : list of Cutoff, optional
        Lines to draw, each with its flagged side.
    width, height : int
        The chart's size in pixels.
    y_label : str
        The y axis label.

    Returns
    -------
    str
        An ``<svg>`` element with a ``<title>`` and a ``<desc>`` listing every value.
    """
    cutoffs = cutoffs or []
    left, right, top, bottom = 56, 50, 14, 34
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
    # built as XML elements, never by pasting text: a label is always text, never markup
    svg = ET.Element("svg", {"class": "chart", "role": "img",
                             "viewBox": f"0 0 {width} {height}", "width": str(width),
                             "height": str(height), "xmlns": "http://www.w3.org/2000/svg"})
    ET.SubElement(svg, "title").text = title
    ET.SubElement(svg, "desc").text = "; ".join(desc_bits) or "no scores yet"

    def add(tag: str, text: str | None = None, **attrs: str) -> None:
        element = ET.SubElement(svg, tag, {k.rstrip("_").replace("_", "-"): v
                                           for k, v in attrs.items()})
        element.text = text

    add("rect", class_="plot", x=str(left), y=str(top), width=str(plot_w), height=str(plot_h))
    add("text", y_label, class_="axis-label", x="14", y=f"{top + plot_h / 2:.1f}",
        text_anchor="middle", transform=f"rotate(-90 14 {top + plot_h / 2:.1f})")
    for tick in _ticks(low, high):
        ty = y(tick)
        add("line", class_="grid", x1=str(left), x2=str(left + plot_w), y1=f"{ty:.1f}",
            y2=f"{ty:.1f}")
        add("text", f"{tick:g}", class_="tick", x=str(left - 6), y=f"{ty + 4:.1f}",
            text_anchor="end")
    for c in cutoffs:
        cy = y(c.value)
        add("line", class_="cutoff", x1=str(left), x2=str(left + plot_w), y1=f"{cy:.1f}",
            y2=f"{cy:.1f}")
        add("text", f"{c.symbol} {c.value:g}", class_="cutoff-label",
            x=str(left + plot_w + 4), y=f"{cy + 4:.1f}")
    if n > 1:
        path = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, (_, v) in enumerate(points))
        add("polyline", class_="series", points=path)
    for i, (label, value) in enumerate(points):
        px, py = x(i), y(value)
        if any(c.flags(value) for c in cutoffs):
            add("path", class_="point above",
                d=f"M{px:.1f},{py - 7:.1f} L{px + 7:.1f},{py:.1f} "
                  f"L{px:.1f},{py + 7:.1f} L{px - 7:.1f},{py:.1f} Z")
        else:
            add("circle", class_="point", cx=f"{px:.1f}", cy=f"{py:.1f}", r="4.5")
        add("text", f"{value:g}", class_="value", x=f"{px:.1f}", y=f"{py - 10:.1f}",
            text_anchor="middle")
        add("text", _short(label), class_="tick", x=f"{px:.1f}", y=str(height - 12),
            text_anchor="middle")
    return ET.tostring(svg, encoding="unicode", short_empty_elements=True)


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


# --- SVG from the domain (CONSORT diagrams), made safe to inline in a page -------------------


_SVG_NS = "http://www.w3.org/2000/svg"


_XLINK_NS = "http://www.w3.org/1999/xlink"


_DECLARATION = re.compile(r"[a-z-]+")


def _parse_svg(svg: str) -> ET.Element:
    ET.register_namespace("", _SVG_NS)
    ET.register_namespace("xlink", _XLINK_NS)
    for prefix, uri in (("dc", "http://purl.org/dc/elements/1.1/"),
                        ("cc", "http://creativecommons.org/ns#"),
                        ("rdf", "http://www.w3.org/1999/02/22-rdf-syntax-ns#")):
        ET.register_namespace(prefix, uri)
    return ET.fromstring(svg.encode("utf-8"))  # no DTD or entities: matplotlib writes none


def _presentational(root: ET.Element) -> ET.Element:
    """Matplotlib writes ``style="…"`` attributes and a ``<style>`` element, which the
    platform's Content-Security-Policy (``style-src 'self'``) blocks; SVG presentation
    attributes (``fill="…"``) draw the same and are not styles. Done on the parsed tree, so
    text in the diagram (an arm or study name) can never become an attribute or markup."""
    for parent in root.iter():
        for child in list(parent):
            if child.tag == f"{{{_SVG_NS}}}style":
                parent.remove(child)
        style = parent.attrib.pop("style", None)
        if style is None:
            continue
        for decl in style.split(";"):
            if ":" in decl:
                name, value = (x.strip() for x in decl.split(":", 1))
                if _DECLARATION.fullmatch(name):
                    parent.set(name, value)
    return root


def presentational_svg(svg: str) -> str:
    """Rewrite a Matplotlib SVG document with presentation attributes instead of styles.

    The page's Content-Security-Policy refuses inline styles; attributes are allowed.

    Parameters
    ----------
    svg : str
        The SVG document Matplotlib wrote.

    Returns
    -------
    str
        The same drawing as a standalone SVG document (with its XML declaration).
    """
    root = _presentational(_parse_svg(svg))
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def inline_svg(svg: str, title: str, ident: str) -> str:
    """Turn a Matplotlib SVG document into an inline image with an accessible title.

    Parameters
    ----------
    svg : str
        The SVG document Matplotlib wrote.
    title : str
        The image's title, read out by screen readers.
    ident : str
        The ``id`` of the title element (unique on the page).

    Returns
    -------
    str
        The ``<svg>`` element, without fixed width and height, with ``role="img"`` and
        presentation attributes in place of style rules.
    """
    root = _presentational(_parse_svg(svg))
    for name in ("width", "height"):
        root.attrib.pop(name, None)
    root.set("role", "img")
    root.set("aria-labelledby", ident)
    root.set("class", "consort")
    heading = ET.Element(f"{{{_SVG_NS}}}title", {"id": ident})
    heading.text = title
    root.insert(0, heading)
    return ET.tostring(root, encoding="unicode")

