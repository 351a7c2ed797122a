"""Per-session report: an ethogram timeline (PNG) and an HTML page that embeds it.

The timeline has one row per actor × code; states are bars, point events ticks. Cue windows
``[onset + lo, onset + hi]`` are shaded; responses whose onset falls in a window are drawn in a
strong colour with a marker at the onset, responses outside every window in grey. The HTML page
is self-contained (the PNG is embedded as base64; no external assets).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence

import numpy as np
import pandas as pd

from attunement.observation.metrics import Roles
from attunement.observation.responsiveness import _EPS


def responses_in_window(cue_onsets: np.ndarray, response_onsets: np.ndarray,
                        window: tuple[float, float]) -> np.ndarray:
    """Mask of responses whose onset lies in some cue's closed window."""
    cues = np.sort(np.asarray(cue_onsets, float))
    r = np.asarray(response_onsets, float)
    if len(cues) == 0:
        return np.zeros(len(r), bool)
    # the latest cue whose window start is at or before r
    k = np.searchsorted(cues + window[0] - _EPS, r, side="right") - 1
    ok = k >= 0
    lat = np.where(ok, r - cues[np.maximum(k, 0)], np.inf)
    # an earlier cue could still cover r only if windows overlap, and the latest one is closest
    return ok & (lat <= window[1] + _EPS)


def ethogram_png(
    events: pd.DataFrame, roles: Roles, *, window: tuple[float, float] = (0.0, 5.0),
    title: str = "", dpi: int = 110,
) -> bytes:
    """PNG bytes of the ethogram timeline of one session."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    ev = events.sort_values(["actor", "code", "onset"])
    inf = ev["actor"].map(roles.is_infant).to_numpy(bool)
    is_cue = inf & ev["code"].isin(list(roles.cue_type)).to_numpy()
    is_resp = ~inf & ev["code"].isin(list(roles.response_type)).to_numpy()
    cue_on = ev.loc[is_cue, "onset"].to_numpy()
    hit = np.zeros(len(ev), bool)
    hit[is_resp] = responses_in_window(cue_on, ev.loc[is_resp, "onset"].to_numpy(), window)
    keys = list(dict.fromkeys(zip(ev["actor"], ev["code"], strict=True)))
    keys.sort(key=lambda k: (not roles.is_infant(k[0]), k[0], k[1]))
    ypos = {k: i for i, k in enumerate(reversed(keys))}
    end = float(np.nanmax(np.fmax(ev["onset"].to_numpy(), ev["offset"].to_numpy()))) if len(
        ev) else 1.0
    dur = ev["duration"].max() if "duration" in ev and ev["duration"].notna().any() else end
    fig_h = 1.2 + 0.35 * max(len(keys), 2)
    fig, ax = plt.subplots(figsize=(11, fig_h), dpi=dpi)
    for c in cue_on:
        ax.axvspan(c + window[0], c + window[1], color="#f6d58e", alpha=0.35, lw=0)
    colours = np.where(is_cue, "#c0392b", np.where(hit, "#1f6fb2", np.where(is_resp, "#9aa5b1",
                                                                            "#5d6d7e")))
    for (actor, code, on, off), col, h in zip(
        zip(ev["actor"], ev["code"], ev["onset"], ev["offset"], strict=True), colours, hit,
        strict=True,
    ):
        y = ypos[(actor, code)]
        if np.isnan(off):
            ax.plot([on, on], [y - 0.35, y + 0.35], color=col, lw=2)
        else:
            ax.broken_barh([(on, max(off - on, 0.05))], (y - 0.3, 0.6), color=col)
        if h:
            ax.plot(on, y, marker="v", color="#0b3c68", ms=6)
    ax.set_yticks(list(ypos.values()))
    ax.set_yticklabels([f"{a}: {c}" for a, c in ypos])
    ax.set_xlim(0, float(dur))
    ax.set_xlabel("time (s)")
    ax.set_title(title, fontsize=10)
    fig.legend(handles=[
        Patch(color="#c0392b", label="infant cue"),
        Patch(color="#f6d58e", label=f"cue window {window[0]:g}–{window[1]:g} s"),
        Patch(color="#1f6fb2", label="response in window"),
        Patch(color="#9aa5b1", label="response outside windows"),
        Patch(color="#5d6d7e", label="other"),
    ], loc="lower center", ncol=5, fontsize=8, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout(rect=(0, 0.6 / fig_h, 1, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def latency_curve_png(events: pd.DataFrame, roles: Roles, *, window: tuple[float, float] = (0.0,
                      5.0), dpi: int = 110) -> bytes:
    """PNG of the Kaplan–Meier share of cues responded to by time t, one curve per caregiver."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from attunement.observation.events import session_durations
    from attunement.observation.responsiveness import kaplan_meier, latency_arrays

    end = float(session_durations(events).iloc[0])
    inf = events["actor"].map(roles.is_infant).to_numpy(bool)
    cue_on = events.loc[inf & events["code"].isin(list(roles.cue_type)).to_numpy(), "onset"]
    fig, ax = plt.subplots(figsize=(5.5, 3.2), dpi=dpi)
    for carer in sorted(set(events.loc[~inf, "actor"])):
        r = events[(events["actor"] == carer) & events["code"].isin(list(roles.response_type))]
        _, _, t, e = latency_arrays(cue_on.to_numpy(), r["onset"].to_numpy(), end,
                                    window=window)
        km = kaplan_meier(t, e)
        if len(km):
            ax.step(np.r_[0, km["time"]], np.r_[0, km["cumulative"]], where="post", label=carer)
    ax.axvline(window[1], color="#999", ls="--", lw=1)
    ax.set_xlabel("seconds after cue onset")
    ax.set_ylabel("share of cues responded to")
    ax.set_ylim(0, 1)
    ax.set_title("Response latency (Kaplan–Meier, censored at next cue)", fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def session_report_html(
    events: pd.DataFrame, roles: Roles, metrics: pd.DataFrame, *,
    window: tuple[float, float] = (0.0, 5.0), sessions: Sequence[str] | None = None,
) -> str:
    """A self-contained HTML report: for each session its ethogram and its measures."""
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             "<title>attunement observation report</title><style>",
             "body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}",
             "table{border-collapse:collapse;font-size:0.85em}td,th{border:1px solid #ccc;",
             "padding:3px 6px;text-align:right}th{background:#f2f2f2}img{max-width:100%}",
             "</style></head><body><h1>Coded interaction report</h1>",
             f"<p>Window {window[0]:g}–{window[1]:g} s after each cue onset; responsiveness = "
             "share of cues followed by a response onset in the window; Yule's Q and the "
             "permutation p come from GSEQ-style time-window tables.</p>"]
    for s in sessions or list(pd.unique(events["session"])):
        ev = events[events["session"] == s]
        png = ethogram_png(ev, roles, window=window, title=str(s))
        parts.append(f"<h2>{html.escape(str(s))}</h2>")
        parts.append("<img alt='ethogram timeline' src='data:image/png;base64,"
                     + base64.b64encode(png).decode("ascii") + "'>")
        km = latency_curve_png(ev, roles, window=window)
        parts.append("<img alt='response latency curve' src='data:image/png;base64,"
                     + base64.b64encode(km).decode("ascii") + "'>")
        m = metrics[metrics["session"] == s]
        if len(m):
            cols = ["caregiver", "cue_type", "n_cues", "responsiveness", "median_latency",
                    "km_median_latency", "yules_q", "odds_ratio", "adjusted_residual",
                    "permutation_p"]
            parts.append(m[cols].to_html(index=False, float_format=lambda v: f"{v:.3f}",
                                         na_rep="–", border=0))
    parts.append("</body></html>")
    return "\n".join(parts)
