"""Reports: an ethogram timeline (PNG or inline SVG), and for any number of sessions a small
summary page with one light page per session (:func:`write_report`).

The timeline has one row per actor × code; states are bars, point events ticks. Cue windows
``[onset + lo, onset + hi]`` are shaded; responses whose onset falls in a window are drawn in a
strong colour with a marker at the onset, responses outside every window in grey. The HTML page
is self-contained (the PNG is embedded as base64; no external assets).
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from attunement.observation.metrics import Roles
from attunement.observation.responsiveness import _EPS


def responses_in_window(cue_onsets: np.ndarray, response_onsets: np.ndarray,
                        window: tuple[float, float]) -> np.ndarray:
    """Mask of responses whose onset lies in some cue's closed window.

    Parameters
    ----------
    cue_onsets, response_onsets : numpy.ndarray
        Onsets in seconds.
    window : tuple of float
        ``(lo, hi)`` seconds after a cue onset, closed at both ends.

    Returns
    -------
    numpy.ndarray
        One boolean per response.

    Examples
    --------
    >>> import numpy as np
    >>> responses_in_window(np.array([3.0, 25.0, 47.0]), np.array([5.0, 18.0, 28.0, 55.0]),
    ...                     (0, 5)).tolist()
    [True, False, True, False]
    """
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
    r"""PNG bytes of the ethogram timeline of one session.

    Parameters
    ----------
    events : pandas.DataFrame
        One session's events.
    roles : Roles
        Cue and response codes and the infant's name.
    window : tuple of float, default (0.0, 5.0)
        The response window drawn after each cue.
    title : str
        The plot title.
    dpi : int, default 110
        Resolution.

    Returns
    -------
    bytes
        A PNG image.

    Examples
    --------
    >>> from attunement.observation.datasets import worked_example_b
    >>> from attunement.observation.metrics import resolve_roles
    >>> ev = worked_example_b()
    >>> ethogram_png(ev, resolve_roles(cues=["cry"], responses=["soothe"]))[:4]
    b'\x89PNG'
    """
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
    from attunement.observation.events import coded_intervals

    x_lo, x_hi = (float(v) for v in coded_intervals(ev).iloc[0]) if len(ev) else (0.0, 1.0)
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
    ax.set_xlim(x_lo, max(x_hi, x_lo + 1e-6))
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
    r"""PNG of the Kaplan–Meier share of cues responded to by time t, one curve per caregiver.

    Parameters
    ----------
    events, roles, window, dpi
        As for :func:`ethogram_png`.

    Returns
    -------
    bytes
        The curves as a PNG image.

    Examples
    --------
    A narrower window than the default:

    >>> from attunement.observation.datasets import worked_example_b
    >>> from attunement.observation.metrics import resolve_roles
    >>> roles = resolve_roles(cues=["cry"], responses=["soothe"])
    >>> latency_curve_png(worked_example_b(), roles, window=(0.0, 3.0)).startswith(b"\x89PNG")
    True
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from attunement.observation.events import coded_intervals
    from attunement.observation.responsiveness import kaplan_meier, latency_arrays

    # as in session_metrics: cues and responses inside the coded interval, censored at its end
    lo, hi = (float(v) for v in coded_intervals(events).iloc[0])
    events = events[(events["onset"] >= lo) & (events["onset"] <= hi)]
    end = hi - lo
    inf = events["actor"].map(roles.is_infant).to_numpy(bool)
    cue_on = events.loc[inf & events["code"].isin(list(roles.cue_type)).to_numpy(), "onset"] - lo
    fig, ax = plt.subplots(figsize=(5.5, 3.2), dpi=dpi)
    for carer in sorted(set(events.loc[~inf, "actor"])):
        r = events[(events["actor"] == carer) & events["code"].isin(list(roles.response_type))]
        _, _, t, e = latency_arrays(cue_on.to_numpy(), r["onset"].to_numpy() - lo, end,
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
    """A self-contained HTML report: for each session its ethogram and its measures.

    Parameters
    ----------
    events, roles, window
        As for :func:`ethogram_png`, for every session.
    metrics : pandas.DataFrame
        The output of :func:`~attunement.observation.metrics.session_metrics`.
    sessions : sequence of str, optional
        The sessions to show; by default all.

    Returns
    -------
    str
        One HTML page (images inline).

    Examples
    --------
    >>> from attunement.observation.datasets import worked_example_b
    >>> from attunement.observation.metrics import resolve_roles, session_metrics
    >>> ev = worked_example_b()
    >>> roles = resolve_roles(cues=["cry"], responses=["soothe"])
    >>> page = session_report_html(ev, roles, session_metrics(ev, cues=["cry"], responses=["soothe"]))
    >>> page.startswith("<!DOCTYPE html>")
    True
    """
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


# --- many sessions: a summary page and one light page per session (inline SVG) ---------------

_SVG_COLOURS = {"cue": "#c0392b", "hit": "#1f6fb2", "miss": "#9aa5b1", "other": "#5d6d7e"}
_CSS = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}"
        "table{border-collapse:collapse;font-size:0.85em}td,th{border:1px solid #ccc;"
        "padding:3px 6px;text-align:right}th{background:#f2f2f2}td.l{text-align:left}"
        "svg{max-width:100%;height:auto}")


def ethogram_svg(
    events: pd.DataFrame, roles: Roles, *, window: tuple[float, float] = (0.0, 5.0),
    interval: tuple[float, float] | None = None, width: int = 1000,
) -> str:
    """The ethogram timeline of one session as inline SVG.

    Same encoding as :func:`ethogram_png`, drawn without matplotlib so that thousands of sessions
    stay fast.

    Parameters
    ----------
    events, roles, window
        As for :func:`ethogram_png`.
    interval : tuple of float, optional
        The coded interval: the x range.
    width : int, default 1000
        Width in pixels.

    Returns
    -------
    str
        An ``<svg>`` element.

    Examples
    --------
    >>> from attunement.observation.datasets import worked_example_b
    >>> from attunement.observation.metrics import resolve_roles
    >>> ev = worked_example_b()
    >>> ethogram_svg(ev, resolve_roles(cues=["cry"], responses=["soothe"]),
    ...              interval=(0, 60)).startswith("<svg")
    True
    """
    actor = events["actor"].to_numpy(dtype=object)
    code = events["code"].to_numpy(dtype=object)
    on = events["onset"].to_numpy(dtype=float)
    off = events["offset"].to_numpy(dtype=float)
    inf = np.fromiter((roles.is_infant(str(a)) for a in actor), bool, len(actor))
    is_cue = inf & np.fromiter((c in roles.cue_type for c in code), bool, len(code))
    is_resp = ~inf & np.fromiter((c in roles.response_type for c in code), bool, len(code))
    hit = np.zeros(len(on), bool)
    hit[is_resp] = responses_in_window(on[is_cue], on[is_resp], window)
    keys = sorted(set(zip(actor, code, strict=True)),
                  key=lambda k: (not roles.is_infant(str(k[0])), str(k[0]), str(k[1])))
    row = {k: i for i, k in enumerate(keys)}
    if interval is not None:
        lo, hi = interval
    else:
        lo = float(np.nanmin(on)) if len(on) else 0.0
        hi = float(np.nanmax(np.fmax(on, off))) if len(on) else 1.0
    span = max(hi - lo, 1e-9)
    left, rh = 170, 18
    plot_w = width - left - 10
    height = 30 + rh * max(len(keys), 1)

    def x(t: float) -> float:
        return left + (t - lo) / span * plot_w

    out = [f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' "
           f"width='{width}' height='{height}' role='img' aria-label='ethogram timeline'>"]
    for c in on[is_cue]:
        x0, x1 = max(x(c + window[0]), left), min(x(c + window[1]), left + plot_w)
        if x1 > x0:
            out.append(f"<rect x='{x0:.1f}' y='0' width='{x1 - x0:.1f}' height='{height - 20}'"
                       " fill='#f6d58e' fill-opacity='0.35'/>")
    for k, i in row.items():
        out.append(f"<text x='{left - 6}' y='{i * rh + 13}' font-size='11' text-anchor='end'>"
                   f"{html.escape(f'{k[0]}: {k[1]}')}</text>")
    kind = np.where(is_cue, "cue", np.where(hit, "hit", np.where(is_resp, "miss", "other")))
    for a, c, t0, t1, kd in zip(actor, code, on, off, kind, strict=True):
        y = row[(a, c)] * rh
        colour = _SVG_COLOURS[kd]
        if np.isnan(t1):
            out.append(f"<line x1='{x(t0):.1f}' x2='{x(t0):.1f}' y1='{y + 2}' y2='{y + 16}' "
                       f"stroke='{colour}' stroke-width='2'/>")
        else:
            w = max(x(t1) - x(t0), 0.8)
            out.append(f"<rect x='{x(t0):.1f}' y='{y + 4}' width='{w:.1f}' height='10' "
                       f"fill='{colour}'/>")
    ticks = np.linspace(lo, hi, 6)
    for t in ticks:
        out.append(f"<text x='{x(t):.1f}' y='{height - 4}' font-size='10' "
                   f"text-anchor='middle'>{t:.1f} s</text>")
    out.append("</svg>")
    return "".join(out)


def _legend(window: tuple[float, float]) -> str:
    items = [("#c0392b", "infant cue"), ("#f6d58e", f"cue window {window[0]:g}–{window[1]:g} s"),
             ("#1f6fb2", "response in window"), ("#9aa5b1", "response outside windows"),
             ("#5d6d7e", "other")]
    return "<p>" + " ".join(f"<span style='color:{c}'>&#9632;</span> {html.escape(t)}"
                            for c, t in items) + "</p>"


def _page(title: str, body: list[str]) -> str:
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>"
            f"{html.escape(title)}</title><style>{_CSS}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")


SUMMARY_COLUMNS = ("caregiver", "n_cues", "responsiveness", "median_latency", "yules_q",
                   "adjusted_residual", "permutation_p", "interval_start", "interval_end")


def _cell(v) -> str:
    if isinstance(v, float | np.floating):
        return "–" if np.isnan(v) else f"{v:.3f}"
    return html.escape(str(v))


def write_report(
    events: pd.DataFrame, roles: Roles, metrics: pd.DataFrame, output,
    *, window: tuple[float, float] = (0.0, 5.0),
    progress: Callable[[int], None] | None = None,
) -> list:
    """Write the summary page and one page per session; return the paths written.

    ``output`` is a small summary page (one row per session and caregiver, linking to the
    session's page); each session's page goes to ``<output stem>_sessions/`` (ethogram and
    measures as inline SVG and tables, no external assets).

    Parameters
    ----------
    events : pandas.DataFrame
        The events.
    roles : Roles
        Cue and response codes and the infant's name.
    metrics : pandas.DataFrame
        The output of :func:`~attunement.observation.metrics.session_metrics`.
    output : str or Path
        The summary page's path.
    window : tuple of float, default (0.0, 5.0)
        The response window.
    progress : callable, optional
        Called with the number of sessions written.

    Returns
    -------
    list of Path
        The session pages (in ``<output stem>_sessions/``), then the summary page
        ``output``.

    Examples
    --------
    One session gives one session page and the summary:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from attunement.observation.datasets import worked_example_b
    >>> from attunement.observation.metrics import resolve_roles, session_metrics
    >>> ev = worked_example_b()
    >>> roles = resolve_roles(cues=["cry"], responses=["soothe"])
    >>> m = session_metrics(ev, cues=["cry"], responses=["soothe"])
    >>> with tempfile.TemporaryDirectory() as d:
    ...     paths = write_report(ev, roles, m, Path(d) / "report.html")
    ...     sorted(p.name for p in paths)
    ['report.html', 's1.html']
    """
    from pathlib import Path

    output = Path(output)
    folder = output.with_name(output.stem + "_sessions")
    folder.mkdir(parents=True, exist_ok=True)
    events = roles.assign(events)
    groups = events.groupby("session", sort=False).indices
    by_session = {s: g for s, g in metrics.groupby("session", sort=False)}
    used: set[str] = set()
    written = []
    rows = []
    cols = ["caregiver", "cue_type", "response_type", "n_cues", "cues_per_minute",
            "responsiveness", "median_latency", "km_median_latency", "chance_responsiveness",
            "yules_q", "odds_ratio", "adjusted_residual", "permutation_p"]
    for k, (s, idx) in enumerate(groups.items()):
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", str(s)).strip("._") or "session"
        name, n = base, 2
        while name.lower() in used:
            name, n = f"{base}-{n}", n + 1
        used.add(name.lower())
        m = by_session.get(s)
        ev = events.iloc[idx]
        interval = None
        if m is not None and len(m):
            interval = (float(m["interval_start"].iloc[0]), float(m["interval_end"].iloc[0]))
        body = [f"<p><a href='../{html.escape(output.name)}'>all sessions</a></p>",
                f"<h1>{html.escape(str(s))}</h1>"]
        if interval is not None:
            body.append(f"<p>Coded interval {interval[0]:.3f}–{interval[1]:.3f} s; window "
                        f"{window[0]:g}–{window[1]:g} s after each cue onset.</p>")
        body.append(ethogram_svg(ev, roles, window=window, interval=interval))
        body.append(_legend(window))
        if m is not None and len(m):
            body.append("<table><tr>" + "".join(f"<th>{c}</th>" for c in cols) + "</tr>")
            for rec in m[cols].itertuples(index=False):
                body.append("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in rec) + "</tr>")
            body.append("</table>")
            for rec in m[m["cue_type"] == "all"].itertuples(index=False):
                rows.append((s, name, rec))
        page = folder / f"{name}.html"
        page.write_text(_page(str(s), body), encoding="utf-8")
        written.append(page)
        if progress is not None:
            progress(k + 1)
    head = ("<tr><th>session</th>" + "".join(f"<th>{c}</th>" for c in SUMMARY_COLUMNS)
            + "</tr>")
    body = ["<h1>Coded interaction report</h1>",
            f"<p>{len(groups)} sessions. Window {window[0]:g}–{window[1]:g} s after each cue "
            "onset; responsiveness = share of cues followed by a response onset in the window; "
            "Yule's Q and the permutation p come from GSEQ-style time-window tables over each "
            "session's coded interval. Each session's ethogram and measures by cue type are on "
            "its own page.</p>", "<table>", head]
    for s, name, rec in rows:
        link = f"<a href='{html.escape(folder.name)}/{html.escape(name)}.html'>" \
               f"{html.escape(str(s))}</a>"
        vals = "".join(f"<td>{_cell(getattr(rec, c))}</td>" for c in SUMMARY_COLUMNS)
        body.append(f"<tr><td class='l'>{link}</td>{vals}</tr>")
    body.append("</table>")
    output.write_text(_page("attunement observation report", body), encoding="utf-8")
    return [output, *written]
