"""Issue 4 target: 1,000 ten-minute coded sessions (~600 events each) through all measures,
including 1,000-shift circular permutation tests, in ≤ 30 s on a 2-core machine; compared with
a straightforward per-event Python loop implementation measured in the same run.

Measures per session: responsiveness per caregiver × cue type (window 0–5 s), median and
Kaplan–Meier latency, GSEQ time-window 2×2 table with Yule's Q / OR / adjusted residual, a
circular-shift permutation test with 1,000 shifts (0.5-s units, so 1,200 units per session and
1,000 sampled shifts rather than the 599 that 1-s units would allow), lag-sequential analysis at
lags 1–3, and windowed lagged cross-correlation of per-second cue and response series.

The loop baseline (``attunement.observation.naive``) is run on a few sessions and extrapolated
linearly to 1,000 (it is linear in the number of sessions); the script says so when printing.

Issue 12 targets, measured after it:

* converting a 1,000,000-event BORIS aggregated export (4,000 observations with two media files
  each) to CSV in ≤ 500 MB peak resident memory, streamed (``convert_events``), against the
  whole-table path (``read_events`` + ``write_events``) in the same run; each runs in a child
  process that reports its own peak RSS;
* ``observe report`` for many sessions (measures with 1,000 shifts, a summary page and one page
  per session) at ≥ 10 sessions/s, against the single-page matplotlib report
  (``session_report_html``) on a few sessions, extrapolated linearly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

N_SESSIONS = 1000
SESSION_S = 600.0
UNIT = 0.5
PERMUTATIONS = 1000
WINDOW = (0.0, 5.0)
BASELINE_SESSIONS = 5
CUES = {"cry": "distress", "fuss": "distress", "gaze": "social", "babble": "vocal"}
RESPONSES = ["soothe", "touch", "vocalise"]


def synthetic_sessions(n: int, seed: int = 2026) -> pd.DataFrame:
    """n sessions of ~600 events: infant cues and (partly contingent) caregiver responses."""
    from attunement.observation import make_event_table

    rng = np.random.default_rng(seed)
    frames = []
    cue_codes = np.array(list(CUES))
    for i in range(n):
        n_cues = rng.poisson(300)
        c_on = np.sort(rng.uniform(0, SESSION_S - 1, n_cues)).round(3)
        c_code = cue_codes[rng.integers(0, len(cue_codes), n_cues)]
        c_off = np.where(c_code == "babble", np.nan,
                         np.minimum(c_on + rng.exponential(2.0, n_cues) + 0.2, SESSION_S))
        # responses: some follow cues within a few seconds, others at random
        follow = rng.random(n_cues) < 0.45
        r_on = np.concatenate([c_on[follow] + rng.exponential(2.0, follow.sum()),
                               rng.uniform(0, SESSION_S, rng.poisson(160))])
        r_on = np.sort(r_on[r_on < SESSION_S - 0.5]).round(3)
        r_code = np.array(RESPONSES)[rng.integers(0, 3, len(r_on))]
        r_off = np.where(r_code == "vocalise", np.nan,
                         np.minimum(r_on + rng.exponential(1.5, len(r_on)) + 0.1, SESSION_S))
        carer = np.where(rng.random(len(r_on)) < 0.8, "Mother", "Father")
        frames.append(pd.DataFrame({
            "session": f"dyad{i:04d}", "actor": np.r_[np.full(n_cues, "Infant"), carer],
            "code": np.r_[c_code, r_code], "onset": np.r_[c_on, r_on],
            "offset": np.r_[c_off, r_off], "duration": SESSION_S}))
    return make_event_table(pd.concat(frames, ignore_index=True))


def vectorised(events: pd.DataFrame) -> dict:
    from attunement.observation import session_metrics
    from attunement.observation.scheme import CodingScheme
    from attunement.observation.sequential import (
        lag_sequential,
        occurrence_units,
        windowed_cross_correlation,
    )

    scheme = CodingScheme.from_codes(list(CUES), RESPONSES)
    scheme = CodingScheme(name="bench", infant=("Infant",), exclusive={}, codes={
        c: d.__class__(c, d.actor, d.role, d.kind, CUES.get(c, c)) for c, d in
        scheme.codes.items()})
    t0 = time.perf_counter()
    metrics = session_metrics(events, scheme, window=WINDOW, unit=UNIT,
                              permutations=PERMUTATIONS, seed=1)
    t1 = time.perf_counter()
    lag_rows = 0
    wcc_rows = 0
    ordered = events.sort_values(["session", "onset"], kind="stable")
    for _, g in ordered.groupby("session", sort=False):
        lag_rows += len(lag_sequential(g["code"].tolist(), max_lag=3))
        n = int(SESSION_S)
        inf = g["actor"].to_numpy() == "Infant"
        x = occurrence_units(g["onset"].to_numpy()[inf], g["offset"].to_numpy()[inf], n)
        y = occurrence_units(g["onset"].to_numpy()[~inf], g["offset"].to_numpy()[~inf], n)
        wcc_rows += len(windowed_cross_correlation(x.astype(float), y.astype(float), window=30,
                                                   step=15, max_lag=5))
    t2 = time.perf_counter()
    return {"metrics": metrics, "t_metrics": t1 - t0, "t_rest": t2 - t1,
            "lag_rows": lag_rows, "wcc_rows": wcc_rows}


def loop_baseline(events: pd.DataFrame, sessions: list[str]) -> float:
    """Per-event Python loops over the same measures for the given sessions; seconds."""
    from attunement.observation.naive import naive_lag_counts, naive_session, naive_windowed_xcorr

    rng = np.random.default_rng(1)
    n_units = int(SESSION_S / UNIT)
    shifts = sorted(rng.choice(np.arange(1, n_units), size=PERMUTATIONS, replace=False).tolist())
    t0 = time.perf_counter()
    for s in sessions:
        g = events[events["session"] == s].sort_values("onset", kind="stable")
        rows = g.to_dict("records")
        cues = [r for r in rows if r["actor"] == "Infant"]
        all_cues = [r["onset"] for r in cues]
        for carer in ("Mother", "Father"):
            resp = [r["onset"] for r in rows if r["actor"] == carer]
            for ctype in ("all", "distress", "social", "vocal"):
                c = [r["onset"] for r in cues if ctype == "all" or CUES[r["code"]] == ctype]
                naive_session(c, resp, SESSION_S, window=WINDOW, unit=UNIT, shifts=shifts,
                              all_cues=all_cues)
        seq = [r["code"] for r in rows]
        for lag in (1, 2, 3):
            naive_lag_counts(seq, lag)
        x = [0.0] * int(SESSION_S)
        y = [0.0] * int(SESSION_S)
        for r in rows:
            target = x if r["actor"] == "Infant" else y
            off = r["offset"] if r["offset"] == r["offset"] else r["onset"] + 1
            for u in range(int(r["onset"]), min(int(np.ceil(off)), int(SESSION_S))):
                target[u] = 1.0
        naive_windowed_xcorr(x, y, 30, 15, 5)
    return time.perf_counter() - t0


CONVERT_EVENTS = 1_000_000
CONVERT_MB = 500
REPORT_SESSIONS = 300
REPORT_RATE = 10.0
BORIS_COLUMNS = (
    "Observation id", "Observation date", "Description", "Observation type", "Source",
    "Time offset (s)", "Coding duration", "Media duration (s)", "FPS (frame/s)", "Subject",
    "Observation duration by subject by observation", "Behavior", "Behavioral category",
    "Modifier #1", "Behavior type", "Start (s)", "Stop (s)", "Duration (s)", "Media file name",
    "Image index start", "Image index stop", "Image file path start", "Image file path stop",
    "Comment start", "Comment stop")


def write_big_boris_export(path: Path, n_events: int, per_obs: int = 250) -> None:
    """A BORIS 9 aggregated export of ``n_events`` (two media files per observation)."""
    rng = np.random.default_rng(12)
    n_obs = n_events // per_obs
    codes = np.array(["cry", "fuss", "gaze", "soothe", "touch", "vocalise"])
    with path.open("w", encoding="utf-8") as fh:
        fh.write("\t".join(BORIS_COLUMNS) + "\n")
        for first in range(0, n_obs, 400):
            k = min(400, n_obs - first)
            sess = np.repeat([f"dyad{i:05d}" for i in range(first, first + k)], per_obs)
            m = len(sess)
            start = rng.uniform(0, 12_000, m).round(3)
            point = rng.random(m) < 0.3
            stop = np.where(point, start, (start + rng.exponential(2, m)).round(3))
            pd.DataFrame({
                "Observation id": sess, "Observation date": "2024-01-01 10:00:00",
                "Description": "", "Observation type": "Media file(s)",
                "Source": "player #1:part1.mp4;part2.mp4", "Time offset (s)": "0.0",
                "Coding duration": "12000.000", "Media duration (s)": "7200.000;4800.000",
                "FPS (frame/s)": "25.000;25.000",
                "Subject": np.where(rng.random(m) < 0.5, "Infant", "Mother"),
                "Observation duration by subject by observation": "NA",
                "Behavior": codes[rng.integers(0, len(codes), m)], "Behavioral category": "",
                "Modifier #1": np.where(rng.random(m) < 0.2, "None", "m1"),
                "Behavior type": np.where(point, "POINT", "STATE"), "Start (s)": start,
                "Stop (s)": stop, "Duration (s)": np.where(point, np.nan, stop - start),
                "Media file name": "part1.mp4", "Image index start": "NA",
                "Image index stop": "NA", "Image file path start": "NA",
                "Image file path stop": "NA", "Comment start": "", "Comment stop": "",
            }).to_csv(fh, sep="\t", index=False, header=False, float_format="%.3f",
                      na_rep="NA")


_CHILD = """
import json, sys, time
src, dest, how = sys.argv[1:4]
t0 = time.perf_counter()
if how == "stream":
    from attunement.observation.importers import convert_events
    n, _ = convert_events(src, dest)
else:
    from attunement.observation import read_events, write_events
    ev = read_events(src)
    write_events(ev, dest)
    n = len(ev)
# VmHWM is this process image's own peak; ru_maxrss would include the parent's at the fork
hwm = next(int(line.split()[1]) for line in open("/proc/self/status")
           if line.startswith("VmHWM:"))
print(json.dumps({"events": n, "seconds": time.perf_counter() - t0, "peak_mb": hwm / 1024}))
"""


def _convert_child(src: Path, dest: Path, how: str) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[1] / "src"), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", _CHILD, str(src), str(dest), how], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def convert_scale() -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "big_export.tsv"
        t0 = time.perf_counter()
        write_big_boris_export(src, CONVERT_EVENTS)
        print(f"convert: synthetic BORIS aggregated export, {CONVERT_EVENTS:,} events, "
              f"{src.stat().st_size / 2**20:.0f} MB, built in {time.perf_counter() - t0:.1f} s "
              "(not timed)")
        streamed = _convert_child(src, Path(tmp) / "streamed.csv", "stream")
        whole = _convert_child(src, Path(tmp) / "whole.csv", "whole")
    for name, r in (("streamed (convert_events)", streamed),
                    ("whole table (read_events + write_events)", whole)):
        print(f"convert {name}: {r['events']:,} events in {r['seconds']:.1f} s "
              f"({r['events'] / r['seconds']:,.0f} events/s), peak RSS {r['peak_mb']:.0f} MB")
    ok = streamed["peak_mb"] <= CONVERT_MB and streamed["events"] == CONVERT_EVENTS
    print(f"convert memory: {whole['peak_mb'] / streamed['peak_mb']:.1f}× less than the whole "
          f"table; target ≤ {CONVERT_MB} MB: {'met' if ok else 'MISSED'} "
          f"({streamed['peak_mb']:.0f} MB)")
    return ok


def report_scale() -> bool:
    from attunement.observation import session_metrics
    from attunement.observation.metrics import resolve_roles
    from attunement.observation.report import session_report_html, write_report

    events = synthetic_sessions(REPORT_SESSIONS, seed=7)
    kw = dict(cues=list(CUES), responses=RESPONSES, infant=["Infant"], window=WINDOW,
              permutations=PERMUTATIONS, seed=1)
    roles = resolve_roles(None, list(CUES), RESPONSES, infant=["Infant"])
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.html"
        t0 = time.perf_counter()
        metrics = session_metrics(events, **kw)
        paths = write_report(events, roles, metrics, out, window=WINDOW)
        took = time.perf_counter() - t0
        summary_kb = out.stat().st_size / 1024
        total_mb = sum(p.stat().st_size for p in paths) / 2**20
        rate = REPORT_SESSIONS / took
        print(f"report: {REPORT_SESSIONS} sessions in {took:.1f} s ({rate:.1f} sessions/s): "
              f"summary page {summary_kb:.0f} KB, {len(paths) - 1} session pages, "
              f"{total_mb:.1f} MB in all ({1024 * total_mb / REPORT_SESSIONS:.0f} KB/session)")
        few = list(pd.unique(events["session"]))[:BASELINE_SESSIONS]
        sub = events[events["session"].isin(few)]
        t0 = time.perf_counter()
        html_text = session_report_html(sub, roles, session_metrics(sub, **kw), window=WINDOW)
        base = (time.perf_counter() - t0) / len(few)
    print(f"single-page matplotlib report: {base:.2f} s per session "
          f"({len(html_text) / len(few) / 1024:.0f} KB per session), extrapolated to "
          f"{REPORT_SESSIONS}: {base * REPORT_SESSIONS:.0f} s; speed-up {base * rate:.0f}×")
    ok = rate >= REPORT_RATE
    print(f"report target ≥ {REPORT_RATE:g} sessions/s: {'met' if ok else 'MISSED'} "
          f"({rate:.1f}/s)")
    return ok


def main() -> bool:
    ok = measures()
    ok = convert_scale() and ok
    return report_scale() and ok


def measures() -> bool:
    t0 = time.perf_counter()
    events = synthetic_sessions(N_SESSIONS)
    t_build = time.perf_counter() - t0
    n_events = len(events)
    print(f"synthetic data: {N_SESSIONS} sessions × {SESSION_S:.0f} s, {n_events:,} events "
          f"({n_events / N_SESSIONS:.0f} per session); built in {t_build:.1f} s (not timed below)")
    res = vectorised(events)
    total = res["t_metrics"] + res["t_rest"]
    m = res["metrics"]
    print(f"vectorised: session_metrics {res['t_metrics']:.2f} s ({len(m):,} rows, "
          f"{int((m['n_permutations'] == PERMUTATIONS).sum()):,} permutation tests × "
          f"{PERMUTATIONS} shifts); lag-sequential (lags 1–3) + windowed cross-correlation "
          f"{res['t_rest']:.2f} s ({res['lag_rows']:,} + {res['wcc_rows']:,} rows)")
    print(f"vectorised total: {total:.2f} s for {N_SESSIONS} sessions "
          f"({1000 * total / N_SESSIONS:.1f} ms per session)")
    sessions = sorted(events["session"].unique())[:BASELINE_SESSIONS]
    t_loop = loop_baseline(events, sessions)
    per = t_loop / len(sessions)
    est = per * N_SESSIONS
    print(f"per-event Python loop baseline: {t_loop:.1f} s for {len(sessions)} sessions "
          f"({per:.2f} s per session), extrapolated linearly to {N_SESSIONS} sessions: "
          f"{est:,.0f} s (~{est / 3600:.1f} h)")
    print(f"speed-up: {est / total:,.0f}× ; target ≤ 30 s: "
          f"{'met' if total <= 30 else 'MISSED'} ({total:.1f} s)")
    return total <= 30.0


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
