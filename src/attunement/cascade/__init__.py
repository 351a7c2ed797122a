"""The care cascade: screened → positive → referred → engaged → completed → improved.

A pure function over plain tables (pandas), usable from a notebook with no database:

>>> from attunement.cascade import compute_cascade, load_rules
>>> result = compute_cascade(caregivers, assessments, referrals)          # doctest: +SKIP
>>> result.stages                                                         # doctest: +SKIP

Definitions (one caregiver is one unit; see ``docs/cascade.md``):

* **registered**: every caregiver row (the coverage denominator);
* **screened**: has at least one assessment;
* **positive**: has an assessment with ``positive`` true (a cut-off or safety flag); the
  first such date is the *positive date*;
* **referred**: positive, with a referral offered on or after the positive date;
* **engaged**: referred, and such a referral has a first session;
* **completed**: engaged, and such a referral was completed (not merely ended);
* **improved**: completed, and for at least one measure with a reliable-change rule
  (:func:`load_rules`, Jacobson & Truax 1991) the latest score after the referral's offer is
  at least the rule's threshold better than the latest score on or before it.

Time between stages is the median of whole days per caregiver (positive date → first offer
→ first session → first completion). The 30-day follow-up after a positive screen counts a
repeat assessment (a later date, at most 30 days after) or any referral stage dated within
0–30 days of the positive date.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from attunement import content
from attunement.content import ContentError
from attunement.csvsafe import safe_cell

__all__ = [
    "ALL_SITES",
    "REFERRAL_DATES",
    "STAGES",
    "CascadeError",
    "CascadeResult",
    "ReliableChangeRule",
    "age_band",
    "cascade_csv",
    "compute_cascade",
    "load_rules",
    "rci_threshold",
    "reliable_improvement",
]

STAGES = ("screened", "positive", "referred", "engaged", "completed", "improved")
TRANSITIONS = (
    ("positive", "referred"),
    ("referred", "engaged"),
    ("engaged", "completed"),
)
EQUITY_DIMENSIONS = ("role", "language", "age_band", "deprivation")
NOT_RECORDED = "not recorded"
ALL_SITES = "All sites"
RULES_FILE = Path(__file__).with_name("reliable_change.yaml")
REFERRAL_DATES = (
    "offered_on", "accepted_on", "declined_on", "first_session_on", "completed_on", "ended_on",
)


class CascadeError(ContentError):
    """A table or rule file is malformed: the message names the table/file, row and column.

    A rule-file problem reads ``"{file}: {path}: {reason}"`` like every content error; a table
    problem gives its whole message as ``reason``.

    Parameters
    ----------
    reason : str
        Why.
    file : str, optional
        The rule file.
    path : str, optional
        Where in it, dotted.

    Examples
    --------
    >>> str(CascadeError("must be a number", file="rules.yaml", path="measures[0].threshold"))
    'rules.yaml: measures[0].threshold: must be a number'
    """

    def __init__(self, reason: str, *, file: str | None = None, path: str | None = None) -> None:
        super().__init__(file, path, reason)

    @classmethod
    def at(cls, file: str | None, path: str | None, reason: str) -> CascadeError:
        """The error for ``reason``, located at ``file`` and ``path`` (either may be unknown).

        The shared content checks (:mod:`attunement.content`) build errors this way; the
        arguments come in their order, not the constructor's.

        Parameters
        ----------
        file, path : str or None
            The rules file, and where in it (``"measures[0].threshold"``).
        reason : str
            What is wrong.

        Returns
        -------
        CascadeError
            The error, not yet raised.
        """
        return cls(reason, file=file, path=path)


@dataclass(frozen=True)
class ReliableChangeRule:
    """Reliable improvement on one measure: a fall of at least ``threshold`` points (when
    ``lower_is_better``), with the published source of the value.

    Parameters
    ----------
    instrument : str
        The instrument id.
    score : str
        The score column.
    threshold : float
        The smallest reliable change in points.
    lower_is_better : bool
        Whether a fall is an improvement.
    source : str
        The published source of the threshold.
    sd, reliability : float, optional
        When the threshold was computed from them (:func:`rci_threshold`).

    Examples
    --------
    >>> rule = load_rules()["epds"]
    >>> rule.threshold, rule.improved(15, 8), rule.improved(15, 12)
    (4.0, True, False)
    """

    instrument: str
    score: str
    threshold: float
    lower_is_better: bool
    source: str
    sd: float | None = None
    reliability: float | None = None

    def improved(self, before: float, after: float) -> bool:
        """Whether the change from ``before`` to ``after`` is a reliable improvement.

        Parameters
        ----------
        before, after : float
            The scores at the first and the later assessment.

        Returns
        -------
        bool
            True when the score moved the better way by at least ``threshold`` points.
        """
        change = before - after if self.lower_is_better else after - before
        return change >= self.threshold


def rci_threshold(sd: float, reliability: float, z: float = 1.96) -> float:
    """The smallest reliable change in scale points (Jacobson & Truax 1991).

    ``z * sqrt(2) * SD * sqrt(1 - r)``.

    Parameters
    ----------
    sd : float
        The baseline standard deviation.
    reliability : float
        The test–retest (or internal-consistency) reliability, 0 ≤ r < 1.
    z : float, default 1.96
        The normal quantile (1.96: 95 %).

    Returns
    -------
    float
        The threshold in scale points.

    Raises
    ------
    CascadeError
        SD not positive, or the reliability outside [0, 1).

    Examples
    --------
    Jacobson & Truax (1991, *J Consult Clin Psychol* 59:12–19); by hand
    1.96 · √2 · 4.2 · √0.12 = 4.0328.

    >>> round(rci_threshold(4.2, 0.88), 4)
    4.0328
    """
    if sd <= 0 or not 0 <= reliability < 1:
        raise CascadeError(f"need SD > 0 and 0 <= reliability < 1 (got {sd}, {reliability})")
    return z * math.sqrt(2.0) * sd * math.sqrt(1.0 - reliability)


def load_rules(path: str | Path | None = None) -> dict[str, ReliableChangeRule]:
    """The reliable-change rules (instrument id → rule), validated.

    Parameters
    ----------
    path : str or Path, optional
        A service's rules file (``reliable_change.yaml`` layout); the shipped one by default.

    Returns
    -------
    dict
        Instrument id → :class:`ReliableChangeRule`.

    Raises
    ------
    CascadeError
        ``"{file}: {path}: {reason}"``, e.g. ``rc.yaml: measures[0].threshold: 4 disagrees ...``.

    Examples
    --------
    >>> load_rules()["epds"].threshold
    4.0
    """
    path = Path(path) if path is not None else RULES_FILE
    file = str(path)
    data = content.validate(content.load_yaml(path, error=CascadeError), "reliable_change",
                            file=file, error=CascadeError)
    rules: dict[str, ReliableChangeRule] = {}
    for i, m in enumerate(data["measures"]):
        where = f"measures[{i}]"
        sd, rel, threshold = m.get("sd"), m.get("reliability"), m["threshold"]
        if sd is not None:
            computed = rci_threshold(float(sd), float(rel))
            if math.ceil(computed - 1e-9) != math.ceil(float(threshold) - 1e-9):
                raise CascadeError(
                    f"{threshold} disagrees with 1.96*sqrt(2)*SD*sqrt(1-r) = {computed:.2f} from "
                    f"sd={sd}, reliability={rel}", file=file, path=f"{where}.threshold")
        if m["instrument"] in rules:
            raise CascadeError(f"{m['instrument']!r} appears twice", file=file,
                               path=f"{where}.instrument")
        rules[m["instrument"]] = ReliableChangeRule(
            instrument=m["instrument"], score=m["score"], threshold=float(threshold),
            lower_is_better=m["lower_is_better"], source=" ".join(m["source"].split()),
            sd=None if sd is None else float(sd),
            reliability=None if rel is None else float(rel),
        )
    return rules


def age_band(age: Any) -> str:
    """Five-year bands (``under 20``, ``20-24`` … ``40 and over``); missing → not recorded.

    Parameters
    ----------
    age : int or None
        The age in years.

    Returns
    -------
    str
        The band.

    Examples
    --------
    >>> age_band(23), age_band(41), age_band(None)
    ('20-24', '40 and over', 'not recorded')
    """
    if age is None or (isinstance(age, float) and math.isnan(age)):
        return NOT_RECORDED
    age = int(age)
    if age < 20:
        return "under 20"
    if age >= 40:
        return "40 and over"
    low = age - age % 5
    return f"{low}-{low + 4}"


def reliable_improvement(
    scores: pd.DataFrame, referred_on: Any, rules: dict[str, ReliableChangeRule]
) -> list[dict[str, Any]]:
    """Per measure with a rule: baseline, outcome, change and whether it is a reliable improvement.

    The baseline is the latest score on or before ``referred_on``, the outcome the latest after it.

    Parameters
    ----------
    scores : pandas.DataFrame
        One caregiver's rows with ``instrument``, ``completed_on`` (dates), ``score``.
    referred_on : date-like
        The referral's offer date.
    rules : dict
        Instrument id → :class:`ReliableChangeRule`.

    Returns
    -------
    list of dict
        ``instrument, before, after, change, threshold, improved, source`` per measure with scores
        on both sides.

    Examples
    --------
    >>> import pandas as pd
    >>> scores = pd.DataFrame({"instrument": ["epds", "epds"], "score": [15, 8],
    ...                        "completed_on": pd.to_datetime(["2024-01-10", "2024-04-01"])})
    >>> r = reliable_improvement(scores, "2024-01-15", load_rules())[0]
    >>> r["before"], r["after"], r["change"], r["improved"]
    (15.0, 8.0, -7.0, True)
    """
    out = []
    ref = pd.Timestamp(referred_on)
    for instrument, rule in rules.items():
        rows = scores[(scores["instrument"] == instrument) & scores["score"].notna()]
        rows = rows.sort_values("completed_on", kind="stable")
        before = rows[rows["completed_on"] <= ref]
        after = rows[rows["completed_on"] > ref]
        if before.empty or after.empty:
            continue
        b, a = float(before["score"].iloc[-1]), float(after["score"].iloc[-1])
        out.append({
            "instrument": instrument, "before": b, "after": a, "change": a - b,
            "threshold": rule.threshold, "improved": rule.improved(b, a),
            "source": rule.source,
        })
    return out


@dataclass
class CascadeResult:
    """The cascade's tables (see the module doc for the definitions).

    Parameters
    ----------
    stages : pandas.DataFrame
        ``site, stage, count, percent_of_previous``.
    stage_days : pandas.DataFrame
        ``site, from_stage, to_stage, n, median_days``.
    equity : pandas.DataFrame
        ``dimension, group, registered, screened, coverage, positive, …``.
    follow_up : pandas.DataFrame
        ``site, positive, followed_up, rate``.
    per_caregiver : pandas.DataFrame
        One row per caregiver with its stage flags and dates.

    Examples
    --------
    >>> import pandas as pd
    >>> cg = pd.DataFrame({"caregiver": ["a", "b"], "site": ["north", "north"],
    ...                    "role": ["mother", "father"]})
    >>> asm = pd.DataFrame({"caregiver": ["a"], "instrument": ["epds"],
    ...                     "completed_on": ["2024-01-10"], "positive": [True], "score": [15]})
    >>> ref = pd.DataFrame({"caregiver": [], "offered_on": []})
    >>> result = compute_cascade(cg, asm, ref)
    >>> result.count("screened"), result.count("positive"), result.count("referred")
    (1, 1, 0)
    """

    stages: pd.DataFrame  # site, stage, count, percent_of_previous
    stage_days: pd.DataFrame  # site, from_stage, to_stage, n, median_days
    equity: pd.DataFrame  # dimension, group, registered, screened, coverage, positive, …
    follow_up: pd.DataFrame  # site, positive, followed_up, rate
    per_caregiver: pd.DataFrame  # one row per caregiver with its stage flags and dates

    def count(self, stage: str, site: str = ALL_SITES) -> int:
        """How many caregivers reached ``stage`` at ``site``.

        Parameters
        ----------
        stage : str
            One of ``STAGES``, e.g. ``"screened"`` or ``"referred"``.
        site : str, default "All sites"
            A site's name.

        Returns
        -------
        int
            The count, 0 for a stage or site with no row.
        """
        row = self.stages[(self.stages["site"] == site) & (self.stages["stage"] == stage)]
        return int(row["count"].iloc[0]) if len(row) else 0


def _require(df: pd.DataFrame, name: str, columns: tuple[str, ...]) -> None:
    if not isinstance(df, pd.DataFrame):
        raise CascadeError(f"{name}: must be a pandas DataFrame")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise CascadeError(f"{name}: missing column(s) {', '.join(missing)}")


def _as_date(value: Any) -> Any:
    """A date (ISO text, date, datetime or Timestamp) as a Timestamp; NaT for missing; None
    when it is not a date (so the caller can name the cell)."""
    import datetime as _dt

    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return pd.NaT
    if isinstance(value, pd.Timestamp | _dt.date):
        return pd.Timestamp(value).normalize()
    if isinstance(value, str):
        try:
            return pd.Timestamp(_dt.date.fromisoformat(value.strip()[:10]))
        except ValueError:
            return None
    return None


def _dates(df: pd.DataFrame, name: str, columns: tuple[str, ...], *, required: bool) -> pd.DataFrame:
    df = df.copy()
    for col in columns:
        if col not in df.columns:
            df[col] = pd.NaT
            continue
        if pd.api.types.is_datetime64_any_dtype(df[col]):
            if required and df[col].isna().any():
                i = int(df[col].isna().to_numpy().nonzero()[0][0])
                raise CascadeError(f"{name}: row {i}, column {col}: missing date")
            df[col] = df[col].dt.tz_localize(None).dt.normalize() if df[col].dt.tz else \
                df[col].dt.normalize()
            continue
        parsed = [_as_date(x) for x in df[col]]
        for i, value in enumerate(parsed):
            if value is None or (required and value is pd.NaT):
                raise CascadeError(
                    f"{name}: row {i}, column {col}: {df[col].iloc[i]!r} is not a date "
                    "(YYYY-MM-DD)"
                )
        df[col] = pd.to_datetime(pd.Series(parsed, index=df.index, dtype="object"))
    return df


def compute_cascade(
    caregivers: pd.DataFrame,
    assessments: pd.DataFrame,
    referrals: pd.DataFrame,
    rules: dict[str, ReliableChangeRule] | None = None,
    *,
    follow_up_days: int = 30,
) -> CascadeResult:
    """The cascade per site and over all sites.

    A caregiver id in another table that is not in ``caregivers`` is an error, never dropped.

    Parameters
    ----------
    caregivers : pandas.DataFrame
        ``caregiver`` (unique), ``site``, ``role``; optional ``language``, ``age``,
        ``deprivation``.
    assessments : pandas.DataFrame
        ``caregiver``, ``instrument``, ``completed_on``, ``positive``, ``score`` (the measure's
        main score, NaN if none).
    referrals : pandas.DataFrame
        ``caregiver``, ``offered_on`` and optional ``accepted_on``, ``declined_on``,
        ``first_session_on``, ``completed_on``, ``ended_on`` (a family-level referral is one row
        per caregiver of the family).
    rules : dict, optional
        Reliable-change rules; the shipped ones (:func:`load_rules`) by default.
    follow_up_days : int, default 30
        The follow-up window after a positive screen.

    Returns
    -------
    CascadeResult
        The stage counts, days between stages, equity and follow-up tables.

    Raises
    ------
    CascadeError
        A missing column, a duplicate or unknown caregiver, or a bad date (table, row and column
        named).

    Examples
    --------
    >>> import pandas as pd
    >>> cg = pd.DataFrame({"caregiver": ["a", "b", "c"], "site": ["north", "north", "south"],
    ...                    "role": ["mother", "father", "mother"]})
    >>> asm = pd.DataFrame({"caregiver": ["a", "a", "b"], "instrument": ["epds"] * 3,
    ...                     "completed_on": ["2024-01-10", "2024-04-01", "2024-01-12"],
    ...                     "positive": [True, False, False], "score": [15, 8, 5]})
    >>> ref = pd.DataFrame({"caregiver": ["a"], "offered_on": ["2024-01-15"],
    ...                     "first_session_on": ["2024-01-29"], "completed_on": ["2024-03-20"]})
    >>> result = compute_cascade(cg, asm, ref)
    >>> [result.count(stage) for stage in STAGES]
    [2, 1, 1, 1, 1, 1]
    >>> compute_cascade(cg, asm.assign(caregiver=["a", "a", "z"]), ref)
    Traceback (most recent call last):
    ...
    attunement.cascade.CascadeError: assessments: row 2, column caregiver: 'z' is not in the caregivers table
    """
    rules = load_rules() if rules is None else rules
    _require(caregivers, "caregivers", ("caregiver", "site", "role"))
    _require(assessments, "assessments", ("caregiver", "instrument", "completed_on", "positive",
                                          "score"))
    _require(referrals, "referrals", ("caregiver", "offered_on"))
    if caregivers["caregiver"].duplicated().any():
        dup = caregivers["caregiver"][caregivers["caregiver"].duplicated()].iloc[0]
        raise CascadeError(f"caregivers: caregiver {dup!r} appears twice")
    known = set(caregivers["caregiver"])
    for name, df in (("assessments", assessments), ("referrals", referrals)):
        unknown = ~df["caregiver"].isin(known)
        if unknown.any():
            i = int(unknown.to_numpy().nonzero()[0][0])
            raise CascadeError(f"{name}: row {i}, column caregiver: "
                               f"{df['caregiver'].iloc[i]!r} is not in the caregivers table")
    assessments = _dates(assessments, "assessments", ("completed_on",), required=True)
    referrals = _dates(referrals, "referrals", ("offered_on",), required=True)
    referrals = _dates(referrals, "referrals", REFERRAL_DATES[1:], required=False)
    assessments = assessments.assign(
        positive=assessments["positive"].fillna(False).astype(bool),
        score=pd.to_numeric(assessments["score"], errors="coerce"),
    )

    per = _per_caregiver(caregivers, assessments, referrals, rules,
                         pd.Timedelta(days=follow_up_days))
    for col in (*STAGES, "followed_up"):
        per[col] = per[col].astype(bool)
    for col in ("positive_on", "referred_on", "engaged_on", "completed_on"):
        # all-missing columns would otherwise be plain objects, not dates
        per[col] = pd.to_datetime(per[col])
    sites = [*sorted(per["site"].astype(str).unique()), ALL_SITES]
    return CascadeResult(
        stages=_stages(per, sites),
        stage_days=_stage_days(per, sites),
        equity=_equity(per),
        follow_up=_follow_up(per, sites),
        per_caregiver=per,
    )


def _map_dates(keys: pd.Series, by_caregiver: pd.Series) -> pd.Series:
    """``by_caregiver`` (caregiver → date) looked up for each key, as dates (NaT if none)."""
    lookup = by_caregiver.to_dict()
    return pd.to_datetime(pd.Series([lookup.get(k, pd.NaT) for k in keys], index=keys.index,
                                    dtype="object"))


def _first_by(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """Each caregiver's row with the earliest ``column`` (ties: the first row given)."""
    return df.sort_values(column, kind="stable").drop_duplicates("caregiver", keep="first")


def _per_caregiver(caregivers: pd.DataFrame, assessments: pd.DataFrame,
                   referrals: pd.DataFrame, rules: dict[str, ReliableChangeRule],
                   window: pd.Timedelta) -> pd.DataFrame:
    """One row per caregiver: its stage flags and dates (vectorised; see the module doc)."""
    per = pd.DataFrame({
        "caregiver": caregivers["caregiver"].to_numpy(),
        "site": caregivers["site"].to_numpy(),
        "role": [_group(x) for x in caregivers["role"]],
        "language": [_group(x) for x in caregivers.get("language", [None] * len(caregivers))],
        "age_band": [age_band(x) for x in caregivers.get("age", [None] * len(caregivers))],
        "deprivation": [_group(x) for x in
                        caregivers.get("deprivation", [None] * len(caregivers))],
    })
    key = per["caregiver"]
    per["screened"] = key.isin(set(assessments["caregiver"]))
    positive_on = (assessments.loc[assessments["positive"]]
                   .groupby("caregiver")["completed_on"].min().rename("positive_on"))
    per["positive_on"] = _map_dates(key, positive_on)
    per["positive"] = per["positive_on"].notna()

    # referrals offered on or after the caregiver's positive date
    r = referrals.assign(positive_on=_map_dates(referrals["caregiver"], positive_on))
    r = r[r["positive_on"].notna()]
    eligible = r[r["offered_on"] >= r["positive_on"]]
    per["referred_on"] = _map_dates(key, eligible.groupby("caregiver")["offered_on"].min())
    engaged = eligible[eligible["first_session_on"].notna()]
    per["engaged_on"] = _map_dates(key, engaged.groupby("caregiver")["first_session_on"].min())
    done = _first_by(engaged[engaged["completed_on"].notna()], "completed_on")
    per["completed_on"] = _map_dates(key, done.set_index("caregiver")["completed_on"])
    for stage in ("referred", "engaged", "completed"):
        per[stage] = per[f"{stage}_on"].notna()
    per["improved"] = key.isin(_improved(assessments, done, rules))

    # follow-up: a later assessment or any referral stage within the window
    a = assessments.assign(positive_on=_map_dates(assessments["caregiver"], positive_on))
    a = a[a["positive_on"].notna()]
    later = a[(a["completed_on"] > a["positive_on"])
              & (a["completed_on"] <= a["positive_on"] + window)]
    stages = r.melt(id_vars=["caregiver", "positive_on"], value_vars=list(REFERRAL_DATES),
                    value_name="on").dropna(subset=["on"])
    near = stages[(stages["on"] >= stages["positive_on"])
                  & (stages["on"] <= stages["positive_on"] + window)]
    per["followed_up"] = key.isin(set(later["caregiver"]) | set(near["caregiver"]))
    return per[["caregiver", "site", "role", "language", "age_band", "deprivation", *STAGES,
                "positive_on", "referred_on", "engaged_on", "completed_on", "followed_up"]]


def _improved(assessments: pd.DataFrame, done: pd.DataFrame,
              rules: dict[str, ReliableChangeRule]) -> set[Any]:
    """Caregivers with a reliable improvement on some measure: the latest score after the
    completed referral's offer against the latest on or before it."""
    if done.empty or not rules:
        return set()
    a = assessments[assessments["instrument"].isin(list(rules))
                    & assessments["score"].notna()]
    a = a.assign(offered_on=_map_dates(a["caregiver"],
                                       done.set_index("caregiver")["offered_on"]))
    a = a[a["offered_on"].notna()].sort_values("completed_on", kind="stable")
    cols = ["caregiver", "instrument"]
    before = a[a["completed_on"] <= a["offered_on"]].groupby(cols)["score"].last()
    after = a[a["completed_on"] > a["offered_on"]].groupby(cols)["score"].last()
    pairs = pd.concat([before.rename("before"), after.rename("after")], axis=1,
                      join="inner").reset_index()
    improved = set()
    for row in pairs.itertuples(index=False):
        if rules[row.instrument].improved(float(row.before), float(row.after)):
            improved.add(row.caregiver)
    return improved


def _group(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or str(value) == "":
        return NOT_RECORDED
    return str(value)


def _subset(per: pd.DataFrame, site: str) -> pd.DataFrame:
    return per if site == ALL_SITES else per[per["site"].astype(str) == site]


def _stages(per: pd.DataFrame, sites: list[str]) -> pd.DataFrame:
    out = []
    for site in sites:
        sub = _subset(per, site)
        previous = len(sub)
        for stage in STAGES:
            n = int(sub[stage].sum())
            pct = round(100.0 * n / previous, 1) if previous else None
            out.append({"site": site, "stage": stage, "count": n, "percent_of_previous": pct})
            previous = n
    return pd.DataFrame(out, columns=["site", "stage", "count", "percent_of_previous"])


def _stage_days(per: pd.DataFrame, sites: list[str]) -> pd.DataFrame:
    out = []
    for site in sites:
        sub = _subset(per, site)
        for a, b in TRANSITIONS:
            start, end = sub[f"{a}_on"], sub[f"{b}_on"]
            days = (end - start).dt.days.dropna()
            out.append({"site": site, "from_stage": a, "to_stage": b, "n": len(days),
                        "median_days": float(days.median()) if len(days) else None})
    return pd.DataFrame(out, columns=["site", "from_stage", "to_stage", "n", "median_days"])


def _equity(per: pd.DataFrame) -> pd.DataFrame:
    out = []
    for dim in EQUITY_DIMENSIONS:
        for group, sub in sorted(per.groupby(dim), key=lambda kv: str(kv[0])):
            n = len(sub)
            screened = int(sub["screened"].sum())
            out.append({
                "dimension": dim, "group": str(group), "registered": n, "screened": screened,
                "coverage": round(100.0 * screened / n, 1) if n else None,
                "positive": int(sub["positive"].sum()), "referred": int(sub["referred"].sum()),
                "engaged": int(sub["engaged"].sum()),
            })
    return pd.DataFrame(out, columns=["dimension", "group", "registered", "screened",
                                      "coverage", "positive", "referred", "engaged"])


def _follow_up(per: pd.DataFrame, sites: list[str]) -> pd.DataFrame:
    out = []
    for site in sites:
        sub = _subset(per, site)
        pos = sub.loc[sub["positive"]]
        n, k = len(pos), int(pos["followed_up"].sum())
        out.append({"site": site, "positive": n, "followed_up": k,
                    "rate": round(100.0 * k / n, 1) if n else None})
    return pd.DataFrame(out, columns=["site", "positive", "followed_up", "rate"])


def cascade_csv(result: CascadeResult) -> str:
    """All tables of the cascade as one long CSV.

    Columns ``section, site, dimension, group, stage, metric, value``; every text cell is
    neutralised against formula injection.

    Parameters
    ----------
    result : CascadeResult
        The cascade.

    Returns
    -------
    str
        The CSV text.

    Examples
    --------
    >>> import pandas as pd
    >>> cg = pd.DataFrame({"caregiver": ["a"], "site": ["north"], "role": ["mother"]})
    >>> asm = pd.DataFrame({"caregiver": ["a"], "instrument": ["epds"],
    ...                     "completed_on": ["2024-01-10"], "positive": [True], "score": [15]})
    >>> ref = pd.DataFrame({"caregiver": [], "offered_on": []})
    >>> cascade_csv(compute_cascade(cg, asm, ref)).splitlines()[:2]
    ['section,site,dimension,group,stage,metric,value', 'stages,north,,,screened,count,1']
    """
    import csv
    import io

    header = ["section", "site", "dimension", "group", "stage", "metric", "value"]
    rows: list[list[Any]] = []
    for r in result.stages.to_dict("records"):
        rows.append(["stages", r["site"], "", "", r["stage"], "count", r["count"]])
        rows.append(["stages", r["site"], "", "", r["stage"], "percent_of_previous",
                     r["percent_of_previous"]])
    for r in result.stage_days.to_dict("records"):
        stage = f"{r['from_stage']}->{r['to_stage']}"
        rows.append(["stage_days", r["site"], "", "", stage, "n", r["n"]])
        rows.append(["stage_days", r["site"], "", "", stage, "median_days", r["median_days"]])
    for r in result.equity.to_dict("records"):
        for metric in ("registered", "screened", "coverage", "positive", "referred", "engaged"):
            rows.append(["equity", ALL_SITES, r["dimension"], r["group"], "", metric, r[metric]])
    for r in result.follow_up.to_dict("records"):
        for metric in ("positive", "followed_up", "rate"):
            rows.append(["follow_up_30d", r["site"], "", "", "", metric, r[metric]])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow(["" if v is None or (isinstance(v, float) and math.isnan(v))
                    else safe_cell(v) for v in row])
    return buf.getvalue()
