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
from pathlib import Path

import pandas as pd

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
    """All the numbers of a CONSORT 2010 flow diagram."""

    assessed: int
    excluded: int
    not_eligible: int
    declined: int
    other: dict[str, int]
    randomised: int
    arms: list[ArmFlow]

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: stage, arm, box, n."""
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
    """Count the boxes of the flow diagram from participant records (columns above)."""
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


def draw_consort(counts: ConsortCounts, path: str | Path, title: str | None = None) -> list[Path]:
    """Draw the diagram; writes SVG and/or PNG (by suffix; both when there is none)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch

    path = Path(path)
    targets = [path] if path.suffix.lower() in {".svg", ".png"} else [
        path.with_suffix(".svg"), path.with_suffix(".png")]
    k = max(len(counts.arms), 1)
    margin = 0.6
    width = margin + max(8.0, 4.2 * k)
    fig = Figure(figsize=(width, 11))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, 11)
    ax.axis("off")

    def box(x: float, y: float, w: float, lines: list[str], bold_first: bool = True) -> tuple:
        h = 0.28 * len(lines) + 0.25
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h), w, h, boxstyle="square,pad=0",
                                    fill=False, lw=1.2))
        for i, text in enumerate(lines):
            ax.text(x - w / 2 + 0.12, y - 0.2 - 0.28 * i, text, va="top", ha="left", fontsize=8.5,
                    fontweight="bold" if (i == 0 and bold_first) else "normal")
        return y - h, y

    def arrow(x0: float, y0: float, x1: float, y1: float) -> None:
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops={"arrowstyle": "->", "lw": 1.0})

    def stage(y: float, name: str) -> None:
        ax.text(0.3, y, name, fontsize=9, fontweight="bold", color="#1f4e79", va="center",
                ha="center", rotation=90)

    if title:
        ax.text(width / 2, 10.85, title, ha="center", va="top", fontsize=11, fontweight="bold")
    cx = margin + (width - margin) / 2
    stage(9.6, "Enrolment")
    b_assess, _ = box(cx, 10.5, 3.4, [f"Assessed for eligibility (n = {counts.assessed})"])
    other_n = sum(counts.other.values())
    excl_lines = [f"Excluded (n = {counts.excluded})",
                  f"  • Not meeting inclusion criteria (n = {counts.not_eligible})",
                  f"  • Declined to participate (n = {counts.declined})",
                  f"  • Other reasons (n = {other_n})", *_lines(counts.other, 2)]
    ex_x = min(cx + 3.2, width - 1.9)
    b_ex, t_ex = box(ex_x, 9.95, 3.6, excl_lines)
    arrow(cx, b_assess, cx, 8.45)
    ax.annotate("", xy=(ex_x - 1.8, (b_ex + t_ex) / 2), xytext=(cx, (b_ex + t_ex) / 2),
                arrowprops={"arrowstyle": "->", "lw": 1.0})
    b_rand, _ = box(cx, 8.45, 2.6, [f"Randomised (n = {counts.randomised})"])
    colw = (width - margin) / k
    xs = [margin + colw * (i + 0.5) for i in range(k)]
    bw = min(colw - 0.3, 4.0)
    ax.plot([xs[0], xs[-1]], [7.75, 7.75], color="black", lw=1.0)
    ax.plot([cx, cx], [b_rand, 7.75], color="black", lw=1.0)
    stage(6.9, "Allocation")
    stage(4.6, "Follow-up")
    stage(2.6, "Analysis")
    for a, x in zip(counts.arms, xs, strict=True):
        arrow(x, 7.75, x, 7.4)
        alloc = [f"Allocated to {a.arm} (n = {a.allocated})",
                 f"  • Received allocated intervention (n = {_n(a.received)})",
                 "  • Did not receive allocated intervention (n = "
                 f"{_n(None if a.received is None else a.allocated - a.received)})",
                 *_lines(a.not_received)]
        b1, _ = box(x, 7.4, bw, alloc)
        arrow(x, b1, x, 5.45)
        follow = [f"Lost to follow-up (n = {_n(a.lost)})", *_lines(a.lost_reasons),
                  f"Discontinued intervention (n = {_n(a.discontinued)})",
                  *_lines(a.discontinued_reasons)]
        b2, _ = box(x, 5.45, bw, follow, bold_first=False)
        arrow(x, b2, x, 3.1)
        excl_n = None if a.analysed is None else a.allocated - a.analysed
        analysis = [f"Analysed (n = {_n(a.analysed)})",
                    f"  • Excluded from analysis (n = {_n(excl_n)})", *_lines(a.analysis_excluded)]
        box(x, 3.1, bw, analysis)
    written = []
    for t in targets:
        t.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(t, format=t.suffix.lstrip(".").lower(), dpi=150, metadata=None
                    if t.suffix.lower() == ".png" else {"Date": None})
        written.append(t)
    return written
