"""Agreement of two coders' timed-event records and of global ratings, as tidy tables.

For timed events (one row per session × actor × code set × measure):

* ``time-unit``: per time unit, the code occurring at the unit's midpoint; one row per mutually
  exclusive group of the scheme (categories = the group's codes + nil) and one per code
  (present/absent); with ``tolerance = t`` a second row forgives onset jitter of t units
  (:func:`~attunement.observation.agreement.time_unit_kappa`);
* ``event``: the actor's events (codes from the category set) aligned by onset within
  ``event_tolerance`` seconds; kappa with nil (unmatched events) and among matched events.

Time units run over the session's coded interval (the union of the two coders' intervals,
:func:`~attunement.observation.events.coded_intervals`; ``interval=`` overrides), reported in
``interval_start``/``interval_end``: uncoded time where both coders have nothing would otherwise
count as agreement. Bakeman, Quera & Gnisci (2009) recommend reporting both a time-based and an
event-based kappa.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from attunement.observation.agreement import (
    NIL,
    cohen_kappa,
    event_agreement,
    icc,
    time_unit_kappa,
    unit_codes,
)
from attunement.observation.errors import ObservationError
from attunement.observation.events import coded_intervals
from attunement.observation.scheme import CodingScheme
from attunement.observation.sequential import n_units

COLUMNS = ("session", "actor", "codes", "measure", "tolerance", "kappa", "kappa_matched",
           "p_observed", "n", "n_only_a", "n_only_b", "interval_start", "interval_end")


def coder_agreement(
    events_a: pd.DataFrame,
    events_b: pd.DataFrame,
    scheme: CodingScheme | None = None,
    *,
    codes: Sequence[str] | None = None,
    unit: float = 1.0,
    tolerance: int = 1,
    event_tolerance: float = 1.0,
    event_method: str = "onset",
    interval: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """Time-unit and event-based agreement of coders A and B (see the module docstring).

    Parameters
    ----------
    events_a, events_b : pandas.DataFrame
        The two coders' event tables of the same sessions.
    scheme : CodingScheme, optional
        Gives the codes and the mutually exclusive groups.
    codes : sequence of str, optional
        The codes to compare (without a scheme).
    unit : float, default 1.0
        Time unit in seconds.
    tolerance : int, default 1
        Forgiven jitter in units for the second time-unit row.
    event_tolerance : float, default 1.0
        Onset difference in seconds within which two events match.
    event_method : {"onset", "sequence"}
        How events are aligned (:func:`~attunement.observation.agreement.event_agreement`).
    interval : tuple of float, optional
        One coded interval for every session.

    Returns
    -------
    pandas.DataFrame
        ``session, actor, codes, measure, tolerance, kappa, kappa_matched, p_observed, n,
        n_only_a, n_only_b, interval_start, interval_end``.

    Raises
    ------
    ValueError
        Neither ``codes`` nor ``scheme`` given.

    Examples
    --------
    The worked example of ``docs/statistics/coded-interaction.md`` as two event tables:

    >>> from attunement.observation.events import make_event_table
    >>> def coded(coder, codes):
    ...     return make_event_table([{"session": "s", "coder": coder, "actor": "infant", "code": c,
    ...                               "onset": float(i), "offset": float(i + 1)}
    ...                              for i, c in enumerate(codes)])
    >>> r = coder_agreement(coded("A", "CCCCFFFRRRRRFFCCCCCC"), coded("B", "CCCCCFFFRRRRRFFCCCCC"),
    ...                     codes=["C", "F", "R"])
    >>> r[["codes", "measure", "tolerance", "kappa"]].round(3).head(3)
      codes    measure  tolerance  kappa
    0     C  time-unit        0.0  0.800
    1     C  time-unit        1.0  1.000
    2     F  time-unit        0.0  0.467
    """
    if codes is None and scheme is None:
        raise ValueError("name the codes to compare (--codes) or give a coding scheme")
    cat = list(codes) if codes is not None else list(scheme.codes)  # type: ignore[union-attr]
    groups = dict(scheme.exclusive) if scheme is not None else {}
    sa, sb = set(events_a["session"]), set(events_b["session"])
    common = [s for s in pd.unique(events_a["session"]) if s in sb]
    if not common and len(sa) == 1 and len(sb) == 1:
        # one session per file (e.g. one ELAN file per coder): compare them under A's name
        (s_a,) = sa
        events_b = events_b.assign(session=s_a)
        sb = {s_a}
        common = [s_a]
    if not common:
        raise ObservationError(f"the two files share no session (A: {sorted(sa)[:3]}, "
                               f"B: {sorted(sb)[:3]})", field="session")
    iv_a, iv_b = coded_intervals(events_a, interval), coded_intervals(events_b, interval)
    rows: list[dict] = []
    for s in common:
        lo = min(float(iv_a.loc[s, "interval_start"]), float(iv_b.loc[s, "interval_start"]))
        hi = max(float(iv_a.loc[s, "interval_end"]), float(iv_b.loc[s, "interval_end"]))
        ea = events_a[(events_a["session"] == s) & events_a["code"].isin(cat)]
        eb = events_b[(events_b["session"] == s) & events_b["code"].isin(cat)]
        ea = ea.assign(onset=ea["onset"] - lo, offset=ea["offset"] - lo)
        eb = eb.assign(onset=eb["onset"] - lo, offset=eb["offset"] - lo)
        n = n_units(hi - lo, unit)
        start = len(rows)
        actors = list(dict.fromkeys([*ea["actor"], *eb["actor"]]))
        for actor in actors:
            xa, xb = ea[ea["actor"] == actor], eb[eb["actor"] == actor]
            sets = [(g, list(m)) for g, m in groups.items()
                    if set(m) & (set(xa["code"]) | set(xb["code"]))]
            sets += [(c, [c]) for c in cat if c in set(xa["code"]) | set(xb["code"])]
            for name, members in sets:
                ua = _units(xa, members, n, unit)
                ub = _units(xb, members, n, unit)
                cats = [*members, NIL]
                for t in sorted({0, tolerance}):
                    r = time_unit_kappa(ua, ub, cats, tolerance=t).iloc[0]
                    rows.append({"session": s, "actor": actor, "codes": name,
                                 "measure": "time-unit", "tolerance": t * unit,
                                 "kappa": r["kappa"], "kappa_matched": np.nan,
                                 "p_observed": r["p_observed"], "n": int(r["n"]),
                                 "n_only_a": np.nan, "n_only_b": np.nan})
            present = [c for c in cat if c in set(xa["code"]) | set(xb["code"])]
            ev = event_agreement(xa, xb, present, tolerance=event_tolerance,
                                 method=event_method).iloc[0]
            rows.append({"session": s, "actor": actor, "codes": "(all)",
                         "measure": "event" if event_method == "onset" else "event (sequence)",
                         "tolerance": event_tolerance, "kappa": ev["kappa_with_nil"],
                         "kappa_matched": ev["kappa_matched"],
                         "p_observed": ev["percent_agreement"],
                         "n": int(ev["n_matched"] + ev["n_only_1"] + ev["n_only_2"]),
                         "n_only_a": ev["n_only_1"], "n_only_b": ev["n_only_2"]})
        for r in rows[start:]:
            r["interval_start"], r["interval_end"] = lo, hi
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _units(ev: pd.DataFrame, members: list[str], n: int, unit: float) -> np.ndarray:
    sel = ev[ev["code"].isin(members)]
    return unit_codes(sel["onset"].to_numpy(), sel["offset"].to_numpy(),
                      sel["code"].tolist(), n, unit)


def ratings_agreement(
    file_a: str | Path, file_b: str | Path, *, levels: Sequence[int] | None = None
) -> pd.DataFrame:
    r"""ICCs (and, with the scale's ``levels``, Cohen's kappas) for two coders' global ratings.

    Each file is a CSV with columns ``target, score`` (optionally ``dimension``); targets are
    matched by name and a target rated by only one coder is an error.

    Parameters
    ----------
    file_a, file_b : str or Path
        The two coders' CSV files.
    levels : sequence of int, optional
        The rating scale; adds Cohen's kappas.

    Returns
    -------
    pandas.DataFrame
        ``dimension, statistic, value, ci_low, ci_high, p``.

    Raises
    ------
    ObservationError
        A missing column, a bad score or an unmatched target (file and line named).

    Examples
    --------
    R: ``psych::ICC(cbind(a, b), lmer = FALSE)$results$ICC[2]`` is 0.8646617 for these ratings.

    >>> import os, tempfile
    >>> a = [7, 3, 5, 8, 2, 6, 4, 9, 5, 6]
    >>> b = [8, 4, 5, 9, 3, 5, 6, 8, 4, 7]
    >>> files = []
    >>> for scores in (a, b):
    ...     with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
    ...         _ = f.write("target,score\n" + "".join(f"d{i},{s}\n" for i, s in enumerate(scores)))
    ...     files.append(f.name)
    >>> r = ratings_agreement(*files).set_index("statistic")
    >>> round(float(r.loc["ICC(2,1)", "value"]), 7)
    0.8646617
    >>> for name in files:
    ...     os.unlink(name)
    """
    from attunement.observation.importers._text import read_table, read_text

    def load(path: str | Path) -> pd.DataFrame:
        header, rows = read_table(read_text(path), str(path))
        low = [h.lower() for h in header]
        for col in ("target", "score"):
            if col not in low:
                raise ObservationError(f"missing column {col!r}", source=str(path), line=1)
        out = []
        for line, cells in rows:
            rec = dict(zip(low, (c.strip() for c in cells), strict=True))
            try:
                score = float(rec["score"])
            except ValueError:
                raise ObservationError(f"score {rec['score']!r} is not a number",
                                       source=str(path), line=line, field="score") from None
            out.append({"dimension": rec.get("dimension", ""), "target": rec["target"],
                        "score": score, "line": line})
        return pd.DataFrame(out)

    a, b = load(file_a), load(file_b)
    rows = []
    for dim in pd.unique(a["dimension"]):
        x = a[a["dimension"] == dim].set_index("target")["score"]
        y = b[b["dimension"] == dim].set_index("target")["score"]
        only = sorted(set(x.index) ^ set(y.index))
        if only:
            raise ObservationError(f"targets rated by only one coder: {', '.join(only[:5])}",
                                   field="target")
        y = y.loc[x.index]
        table = icc(np.column_stack([x.to_numpy(), y.to_numpy()]))
        for r in table.itertuples(index=False):
            rows.append({"dimension": dim, "statistic": r.type, "value": r.icc,
                         "ci_low": r.ci_low, "ci_high": r.ci_high, "p": r.p})
        if levels is not None:
            lv = list(levels)
            for w in (None, "linear", "quadratic"):
                k = cohen_kappa(x.astype(int).tolist(), y.astype(int).tolist(), lv,
                                weights=w).iloc[0]
                rows.append({"dimension": dim, "statistic": f"kappa ({k['weights']})",
                             "value": k["kappa"], "ci_low": k["ci_low"],
                             "ci_high": k["ci_high"], "p": np.nan})
    return pd.DataFrame(rows)
