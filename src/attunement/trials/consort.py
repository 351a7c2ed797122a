"""CONSORT 2010 flow diagram (Schulz, Altman & Moher, BMJ 2010;340:c332) from participant records.

Input: one row per person **assessed for eligibility** (a screening log joined to the trial
records). Columns (case-insensitive names; yes/no columns accept yes/no, y/n, true/false, 1/0,
and blank for "no"):

=========================== ==============================================================
``arm``                     allocated arm; blank if the person was not randomised
``exclusion_reason``        for people not randomised: ``not_eligible`` (not meeting
                            inclusion criteria), ``declined`` (declined to participate) or
                            any other text (counted under "other reasons", listed)
``received``                yes/no: received the allocated intervention (randomised only)
``not_received_reason``     why not (free text, listed with counts)
``lost_to_follow_up``       yes/no; ``lost_reason`` free text
``discontinued``            yes/no: discontinued the intervention; ``discontinued_reason``
``analysed``                yes/no: included in the primary analysis;
                            ``analysis_exclusion_reason`` free text
=========================== ==============================================================

Only ``arm`` is required; a missing optional column is shown as "not recorded" rather than
guessed (audits find "received" and "analysed" are the counts most often missing, Hopewell et
al. 2011, *Trials* 12:253). CONSORT 2025 keeps the same four stages.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Callable

    from matplotlib.figure import Figure

__all__ = ["ArmFlow", "ConsortCounts", "ConsortError", "consort_counts", "draw_consort"]

_YES = {"yes", "y", "true", "1", "1.0"}
_NO = {"no", "n", "false", "0", "0.0", "", "nan"}


class ConsortError(ValueError):
    """Participant records that cannot be counted, naming the row and column."""


@dataclass
class ArmFlow:
    """Counts for one arm (None = not recorded)."""

    arm: str
    allocated: int
    received: int | None = None
    not_received: dict[str, int] = field(default_factory=dict)
    lost: int | None = None
    lost_reasons: dict[str, int] = field(default_factory=dict)
    discontinued: int | None = None
    discontinued_reasons: dict[str, int] = field(default_factory=dict)
    analysed: int | None = None
    analysis_excluded: dict[str, int] = field(default_factory=dict)


@dataclass
class ConsortCounts:
    """All the numbers of a CONSORT 2010 flow diagram.

    Examples
    --------
    Six people assessed, two not randomised (one declined, one not eligible):

    >>> import pandas as pd
    >>> records = pd.DataFrame({
    ...     "arm": ["control", "intervention", "control", "intervention", "", ""],
    ...     "exclusion_reason": ["", "", "", "", "declined", "not_eligible"],
    ...     "analysed": ["yes", "yes", "no", "yes", "", ""]})
    >>> counts = consort_counts(records)
    >>> counts.assessed, counts.excluded, counts.randomised
    (6, 2, 4)
    >>> table = counts.to_frame()
    >>> table[table.box == "analysed"][["arm", "n"]].values.tolist()
    [['control', 1], ['intervention', 2]]
    """

    assessed: int
    excluded: int
    not_eligible: int
    declined: int
    other: dict[str, int]
    randomised: int
    arms: list[ArmFlow]

    def to_frame(self) -> pd.DataFrame:
        """Tidy table of the diagram's boxes.

        One row per box, in the diagram's order: enrolment, allocation, follow-up, analysis.

        Returns
        -------
        pandas.DataFrame
            Columns stage, arm (blank at enrolment), box and n (missing where not recorded).
        """
        rows = [("enrolment", "", "assessed for eligibility", self.assessed),
                ("enrolment", "", "excluded", self.excluded),
                ("enrolment", "", "not meeting inclusion criteria", self.not_eligible),
                ("enrolment", "", "declined to participate", self.declined),
                ("enrolment", "", "other reasons", sum(self.other.values())),
                ("enrolment", "", "randomised", self.randomised)]
        for a in self.arms:
            rows += [("allocation", a.arm, "allocated", a.allocated),
                     ("allocation", a.arm, "received allocated intervention", a.received),
                     ("follow-up", a.arm, "lost to follow-up", a.lost),
                     ("follow-up", a.arm, "discontinued intervention", a.discontinued),
                     ("analysis", a.arm, "analysed", a.analysed)]
        out = pd.DataFrame(rows, columns=["stage", "arm", "box", "n"])
        out["n"] = out["n"].astype("Int64")
        return out


def _flag(df: pd.DataFrame, col: str, source: str) -> pd.Series | None:
    if col not in df.columns:
        return None
    vals = df[col].fillna("").astype(str).str.strip().str.lower()
    bad = ~vals.isin(_YES | _NO)
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise ConsortError(f"{source}: row {i + 2}, column '{col}': {df[col].iloc[i]!r} is not "
                           "yes/no")
    return vals.isin(_YES)


def _reasons(df: pd.DataFrame, mask: pd.Series, col: str) -> dict[str, int]:
    if col not in df.columns:
        return {}
    vals = df.loc[mask, col].fillna("").astype(str).str.strip()
    vals = vals.where(vals != "", "reason not recorded")
    return dict(Counter(vals).most_common())


def consort_counts(records: pd.DataFrame, arms: list[str] | None = None,
                   source: str = "records") -> ConsortCounts:
    """Count the boxes of the flow diagram from participant records (columns above).

    Parameters
    ----------
    records
        One row per person assessed for eligibility.
    arms
        The arms in the order to draw them (default: as they appear).
    source
        The name errors give the table (a file name).

    Returns
    -------
    ConsortCounts
        Assessed, excluded (with reasons), randomised and each arm's flow; a count that
        was not recorded is ``None``.

    Examples
    --------
    Six people: arms control, intervention, control, intervention, and two not randomised
    (``exclusion_reason`` declined, not_eligible), ``analysed`` yes, yes, no, yes:
    ``consort_counts(records)`` gives assessed 6, excluded 2 (1 not eligible, 1 declined),
    randomised 4, control allocated 2 / analysed 1, intervention allocated 2 / analysed 2;
    ``received`` was not recorded, so it is ``None``. (R has no reference implementation;
    the counts follow the CONSORT 2010 flow diagram, Schulz, Altman & Moher 2010.)
    """
    df = records.rename(columns={c: c.strip().lower() for c in records.columns})
    if "arm" not in df.columns:
        raise ConsortError(f"{source}: needs an 'arm' column (blank for people not randomised)")
    arm = df["arm"].fillna("").astype(str).str.strip()
    rand = arm != ""
    flags = {c: _flag(df, c, source) for c in ("received", "lost_to_follow_up", "discontinued",
                                               "analysed")}
    for c, f in flags.items():
        if f is not None and (f & ~rand).any():
            i = int((f & ~rand).to_numpy().nonzero()[0][0])
            raise ConsortError(f"{source}: row {i + 2}, column '{c}' is yes but the person has "
                               "no arm (was not randomised)")
    reason = (df["exclusion_reason"].fillna("").astype(str).str.strip().str.lower()
              if "exclusion_reason" in df.columns else pd.Series("", index=df.index))
    excl = ~rand
    not_eligible = int((excl & reason.isin(["not_eligible", "not eligible",
                                            "not meeting inclusion criteria"])).sum())
    declined = int((excl & reason.isin(["declined", "declined to participate"])).sum())
    other_mask = excl & ~reason.isin(["not_eligible", "not eligible", "declined",
                                      "not meeting inclusion criteria", "declined to participate"])
    other = _reasons(df, other_mask, "exclusion_reason") if "exclusion_reason" in df.columns \
        else ({"reason not recorded": int(other_mask.sum())} if other_mask.any() else {})
    present = list(dict.fromkeys(sorted(arm[rand].unique())))
    if arms:
        unknown = set(present) - set(arms)
        if unknown:
            raise ConsortError(f"{source}: arm(s) {sorted(unknown)} are not in --arms {arms}")
        order = list(arms)
    else:
        order = present
    flows = []
    for a in order:
        m = rand & (arm == a)
        flow = ArmFlow(a, int(m.sum()))
        if flags["received"] is not None:
            flow.received = int((m & flags["received"]).sum())
            flow.not_received = _reasons(df, m & ~flags["received"], "not_received_reason")
        if flags["lost_to_follow_up"] is not None:
            flow.lost = int((m & flags["lost_to_follow_up"]).sum())
            flow.lost_reasons = _reasons(df, m & flags["lost_to_follow_up"], "lost_reason")
        if flags["discontinued"] is not None:
            flow.discontinued = int((m & flags["discontinued"]).sum())
            flow.discontinued_reasons = _reasons(df, m & flags["discontinued"],
                                                 "discontinued_reason")
        if flags["analysed"] is not None:
            flow.analysed = int((m & flags["analysed"]).sum())
            flow.analysis_excluded = _reasons(df, m & ~flags["analysed"],
                                              "analysis_exclusion_reason")
        flows.append(flow)
    return ConsortCounts(len(df), int(excl.sum()), not_eligible, declined, other,
                         int(rand.sum()), flows)


def _n(x: int | None) -> str:
    return "not recorded" if x is None else str(x)


def _lines(reasons: dict[str, int], limit: int = 4) -> list[str]:
    items = list(reasons.items())
    out = [f"      – {r} (n = {n})" for r, n in items[:limit]]
    if len(items) > limit:
        out.append(f"      – {len(items) - limit} more reasons (n = "
                   f"{sum(n for _, n in items[limit:])})")
    return out


_FONT = 8.5  # points, box text
_LINE = 0.2  # inches per text line (8.5 pt type with leading)
_PAD_X, _PAD_Y = 0.12, 0.1  # inches inside a box
_GAP = 0.3  # inches between stacked boxes (room for an arrow)


@dataclass
class _Box:
    """One box of the diagram in inches; ``top`` is measured down from the top of the figure."""

    name: str
    x: float
    top: float
    width: float
    lines: list[tuple[str, bool]]  # wrapped lines, bold?

    @property
    def height(self) -> float:
        return _LINE * len(self.lines) + 2 * _PAD_Y

    @property
    def bottom(self) -> float:
        return self.top + self.height


def _wrap(lines: list[str], width: float, measure: Callable[[str, bool], float],
          bold_first: bool) -> list[tuple[str, bool]]:
    """Greedy word wrap of each line to ``width`` inches of measured text; a wrapped bullet line
    continues under its text rather than under the bullet."""
    out: list[tuple[str, bool]] = []
    room = width - 2 * _PAD_X
    for i, line in enumerate(lines):
        bold = i == 0 and bold_first
        body = line.lstrip(" ")
        lead = line[: len(line) - len(body)]
        indent = lead + ("    " if body[:1] in {"•", "–"} else "  ")
        cur, start = lead, lead
        for w in body.split(" "):
            trial = cur + w if cur == start else f"{cur} {w}"
            if cur != start and measure(trial, bold) > room:
                out.append((cur, bold))
                cur = start = indent
                trial = cur + w
            cur = trial
        out.append((cur, bold))
    return out


def _figure(counts: ConsortCounts, title: str | None = None) -> tuple[Figure, list[_Box]]:
    """Build the diagram; returns the figure and its boxes (laid out top to bottom so that box
    heights follow the wrapped text and no two boxes overlap, whatever the number of reasons)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.patches import FancyBboxPatch

    k = max(len(counts.arms), 1)
    margin = 0.6
    width = margin + max(8.0, 4.2 * k)
    fig = Figure(figsize=(width, 11))
    FigureCanvasAgg(fig)
    renderer = fig.canvas.get_renderer()
    props = {b: FontProperties(size=_FONT, weight="bold" if b else "normal")
             for b in (True, False)}

    def measure(text: str, bold: bool) -> float:
        w, _, _ = renderer.get_text_width_height_descent(text, props[bold], ismath=False)
        return w / fig.dpi

    def make(name: str, x: float, top: float, w: float, lines: list[str],
             bold_first: bool = True) -> _Box:
        return _Box(name, x, top, w, _wrap(lines, w, measure, bold_first))

    boxes: list[_Box] = []
    cx = margin + (width - margin) / 2
    y = 0.55 if title else 0.3
    assess = make("assessed", cx, y, 3.4, [f"Assessed for eligibility (n = {counts.assessed})"])
    other_n = sum(counts.other.values())
    excl_lines = [f"Excluded (n = {counts.excluded})",
                  f"  • Not meeting inclusion criteria (n = {counts.not_eligible})",
                  f"  • Declined to participate (n = {counts.declined})",
                  f"  • Other reasons (n = {other_n})", *_lines(counts.other, 2)]
    ex_x = min(cx + 3.2, width - 1.9)
    excl = make("excluded", ex_x, assess.bottom + _GAP, 3.6, excl_lines)
    rand = make("randomised", cx, excl.bottom + _GAP, 2.6,
                [f"Randomised (n = {counts.randomised})"])
    boxes += [assess, excl, rand]
    split = rand.bottom + 0.3
    colw = (width - margin) / k
    xs = [margin + colw * (i + 0.5) for i in range(k)]
    bw = min(colw - 0.3, 4.0)
    rows: list[list[_Box]] = []
    top = split + 0.3
    for stage_name in ("allocation", "follow-up", "analysis"):
        row = []
        for a, x in zip(counts.arms, xs, strict=False):
            if stage_name == "allocation":
                lines = [f"Allocated to {a.arm} (n = {a.allocated})",
                         f"  • Received allocated intervention (n = {_n(a.received)})",
                         "  • Did not receive allocated intervention (n = "
                         f"{_n(None if a.received is None else a.allocated - a.received)})",
                         *_lines(a.not_received)]
                row.append(make(f"{stage_name}:{a.arm}", x, top, bw, lines))
            elif stage_name == "follow-up":
                lines = [f"Lost to follow-up (n = {_n(a.lost)})", *_lines(a.lost_reasons),
                         f"Discontinued intervention (n = {_n(a.discontinued)})",
                         *_lines(a.discontinued_reasons)]
                row.append(make(f"{stage_name}:{a.arm}", x, top, bw, lines, bold_first=False))
            else:
                excl_n = None if a.analysed is None else a.allocated - a.analysed
                lines = [f"Analysed (n = {_n(a.analysed)})",
                         f"  • Excluded from analysis (n = {_n(excl_n)})",
                         *_lines(a.analysis_excluded)]
                row.append(make(f"{stage_name}:{a.arm}", x, top, bw, lines))
        rows.append(row)
        boxes += row
        top = max((b.bottom for b in row), default=top) + _GAP + 0.1
    height = max(b.bottom for b in boxes) + 0.3
    fig.set_size_inches(width, height)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.axis("off")

    def Y(d: float) -> float:  # distance from the top -> axes y
        return height - d

    for b in boxes:
        ax.add_patch(FancyBboxPatch((b.x - b.width / 2, Y(b.bottom)), b.width, b.height,
                                    boxstyle="square,pad=0", fill=False, lw=1.2, gid=b.name))
        for i, (text, bold) in enumerate(b.lines):
            ax.text(b.x - b.width / 2 + _PAD_X, Y(b.top + _PAD_Y + _LINE * (i + 0.5)), text,
                    va="center_baseline", ha="left", fontsize=_FONT,
                    fontweight="bold" if bold else "normal")

    def arrow(x0: float, d0: float, x1: float, d1: float) -> None:
        ax.annotate("", xy=(x1, Y(d1)), xytext=(x0, Y(d0)),
                    arrowprops={"arrowstyle": "->", "lw": 1.0})

    def stage(d0: float, d1: float, name: str) -> None:
        ax.text(0.3, Y((d0 + d1) / 2), name, fontsize=9, fontweight="bold", color="#1f4e79",
                va="center", ha="center", rotation=90)

    if title:
        ax.text(width / 2, Y(0.15), title, ha="center", va="top", fontsize=11, fontweight="bold")
    arrow(cx, assess.bottom, cx, rand.top)
    mid = (excl.top + excl.bottom) / 2
    arrow(cx, mid, ex_x - excl.width / 2, mid)
    ax.plot([xs[0], xs[-1]], [Y(split), Y(split)], color="black", lw=1.0)
    ax.plot([cx, cx], [Y(rand.bottom), Y(split)], color="black", lw=1.0)
    stage(assess.top, rand.bottom, "Enrolment")
    for name, row in zip(("Allocation", "Follow-up", "Analysis"), rows, strict=True):
        if row:
            stage(row[0].top, max(b.bottom for b in row), name)
    for col, x in enumerate(xs[: len(counts.arms)]):
        arrow(x, split, x, rows[0][col].top)
        for upper, lower in pairwise(rows):
            arrow(x, upper[col].bottom, x, lower[col].top)
    return fig, boxes


def draw_consort(counts: ConsortCounts, path: str | Path, title: str | None = None) -> list[Path]:
    """Draw the diagram; writes SVG and/or PNG (by suffix; both when there is none).

    Parameters
    ----------
    counts
        From :func:`consort_counts`.
    path
        Output file (``.svg``, ``.png``) or a stem for both.
    title
        Optional heading.

    Returns
    -------
    list[pathlib.Path]
        The files written.

    Examples
    --------
    ``draw_consort(consort_counts(records), "flow.svg")`` writes the four-stage diagram
    (enrolment, allocation, follow-up, analysis) of CONSORT 2010 with the counts of
    :func:`consort_counts`' example.
    """
    path = Path(path)
    targets = [path] if path.suffix.lower() in {".svg", ".png"} else [
        path.with_suffix(".svg"), path.with_suffix(".png")]
    fig, _ = _figure(counts, title)
    written = []
    for t in targets:
        t.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(t, format=t.suffix.lstrip(".").lower(), dpi=150, metadata=None
                    if t.suffix.lower() == ".png" else {"Date": None})
        written.append(t)
    return written
