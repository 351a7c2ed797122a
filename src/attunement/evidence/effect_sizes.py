"""Effect sizes and their sampling variances, as metafor's ``escalc``.

Argument and column names follow metafor (``ai bi ci di n1i n2i``, ``m1i sd1i n1i m2i sd2i n2i``,
``ri ni``) so that a data set prepared for R works unchanged. Formulas are those of metafor 3.8
(Viechtbauer 2010, https://doi.org/10.18637/jss.v036.i03; ``help(escalc)``), checked against
its output in ``tests/reference/metafor_reference.json``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from attunement.evidence._effect_size_checks import _bad_rows, _check, _wmean, hedges_correction
from attunement.evidence.effect_sizes_binary import BINARY_MEASURES, binary_effect
from attunement.evidence.effect_sizes_continuous import CONTINUOUS_MEASURES, continuous_effect

__all__ = ["MEASURES", "escalc", "hedges_correction"]

#: measures this module computes, grouped by the input columns they need
MEASURES: dict[str, tuple[str, ...]] = {
    "RR": ("ai", "bi|n1i", "ci", "di|n2i"),
    "OR": ("ai", "bi|n1i", "ci", "di|n2i"),
    "RD": ("ai", "bi|n1i", "ci", "di|n2i"),
    "PETO": ("ai", "bi|n1i", "ci", "di|n2i"),
    "AS": ("ai", "bi|n1i", "ci", "di|n2i"),
    "MD": ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"),
    "SMD": ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"),
    "SMDH": ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"),
    "ROM": ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"),
    "COR": ("ri", "ni"),
    "ZCOR": ("ri", "ni"),
    "MC": ("m1i", "sd1i", "m2i", "sd2i", "ni", "ri"),
    "SMCC": ("m1i", "sd1i", "m2i", "sd2i", "ni", "ri"),
    "SMCR": ("m1i", "sd1i", "m2i", "ni", "ri"),
    "PR": ("xi", "mi|ni"),
    "PLN": ("xi", "mi|ni"),
    "PLO": ("xi", "mi|ni"),
    "PAS": ("xi", "mi|ni"),
    "PFT": ("xi", "mi|ni"),
    "IR": ("xi", "ti"),
    "IRLN": ("xi", "ti"),
    "IRS": ("xi", "ti"),
    "IRFT": ("xi", "ti"),
    "IRR": ("x1i", "t1i", "x2i", "t2i"),
    "IRD": ("x1i", "t1i", "x2i", "t2i"),
}
# the rest of metafor's measures live in topic modules; escalc stays the one entry point
MEASURES.update({m: ("ai", "bi|n1i", "ci", "di|n2i") for m in BINARY_MEASURES})
MEASURES.update(CONTINUOUS_MEASURES)

_TWO_BY_TWO = {"RR", "OR", "RD", "PETO", "AS", *BINARY_MEASURES}
#: measures for which metafor's ``add`` defaults to 0 instead of 1/2
_ADD_ZERO_BY_DEFAULT = {"AS", "PHI", "RTET", "PAS", "PFT", "IRS", "IRFT"}
_TWO_GROUP_MEANS = {"MD", "SMD", "SMDH", "ROM"}
_CORRELATIONS = {"COR", "ZCOR"}
_CHANGE = {"MC", "SMCC", "SMCR"}
_PROPORTIONS = {"PR", "PLN", "PLO", "PAS", "PFT"}
_RATES = {"IR", "IRLN", "IRS", "IRFT"}
_RATE_PAIRS = {"IRR", "IRD"}


def _column(name: str, value: Any, data: pd.DataFrame | None, k: int | None) -> np.ndarray | None:
    if value is None:
        if data is not None and name in data.columns:
            value = name
        else:
            return None
    if isinstance(value, str):
        if data is None:
            raise ValueError(f"argument {name}={value!r} names a column but no data was given")
        if value not in data.columns:
            raise ValueError(f"column {value!r} (for {name}) not found in the data")
        series = data[value]
        try:
            return pd.to_numeric(series, errors="raise").to_numpy(dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"column {value!r} (for {name}) must be numeric: {exc}") from None
    arr = np.asarray(value, dtype=float).ravel()
    if k is not None and arr.size != k:
        raise ValueError(f"argument {name} has length {arr.size}, expected {k}")
    return arr


def inputs(data: Any, **values: Any) -> tuple[pd.DataFrame | None, dict[str, np.ndarray | None]]:
    """metafor-named inputs as float arrays of one length (``data`` as a DataFrame).

    Each value is an array, a column name of ``data``, or None: then ``data``'s column of that
    name if it has one, else None. A missing or non-numeric column, or vectors of different
    lengths, raise ``ValueError`` naming the input.

    Parameters
    ----------
    data : pandas.DataFrame or None
        The table the names refer to (anything with ``to_pandas`` or a dict is converted).
    **values
        Each input by its metafor name: an array, a column name or None.

    Returns
    -------
    data : pandas.DataFrame or None
        ``data`` as a DataFrame.
    get : dict of str to numpy.ndarray or None
        Each input as a float array (None when not given).

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"ai": [4, 6], "n1i": [123, 306]})
    >>> _, get = inputs(table, ai=None, n1i="n1i", ci=[11, 29])
    >>> get["ai"].tolist(), get["n1i"].tolist(), get["ci"].tolist()
    ([4.0, 6.0], [123.0, 306.0], [11.0, 29.0])
    """
    if data is not None and not isinstance(data, pd.DataFrame):
        data = data.to_pandas() if hasattr(data, "to_pandas") else pd.DataFrame(data)
    k = len(data) if data is not None else None
    get = {name: _column(name, value, data, k) for name, value in values.items()}
    if len({arr.size for arr in get.values() if arr is not None}) > 1:
        raise ValueError("the supplied data vectors are not all of the same length")
    return data, get


def table_cells(get: dict[str, np.ndarray | None], who: str
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The cells ``ai, bi, ci, di`` of each 2×2 table (``bi = n1i − ai``, ``di = n2i − ci`` when
    only the group sizes are given), checked: whole, non-negative counts and group sizes that
    agree with the cells.

    Parameters
    ----------
    get : dict of str to numpy.ndarray or None
        The inputs from :func:`inputs` (``ai``, ``bi``, ``ci``, ``di``, ``n1i``, ``n2i``).
    who : str
        Starts the message of a missing input, e.g. ``"measure OR"``.

    Returns
    -------
    ai, bi, ci, di : numpy.ndarray
        The four cells.

    Examples
    --------
    >>> _, get = inputs(None, ai=[4], bi=None, ci=[11], di=None, n1i=[123], n2i=[139])
    >>> [cell.tolist() for cell in table_cells(get, "measure OR")]
    [[4.0], [119.0], [11.0], [128.0]]
    >>> table_cells(inputs(None, ai=[4], bi=[119], ci=None, di=[128], n1i=None, n2i=None)[1],
    ...             "measure OR")
    Traceback (most recent call last):
    ...
    ValueError: measure OR needs ci
    """
    missing = [n for n in ("ai", "ci") if get[n] is None]
    if missing:
        raise ValueError(f"{who} needs {', '.join(missing)}")
    ai, ci, n1i, n2i = get["ai"], get["ci"], get["n1i"], get["n2i"]
    bi = get["bi"] if get["bi"] is not None else (None if n1i is None else n1i - ai)
    di = get["di"] if get["di"] is not None else (None if n2i is None else n2i - ci)
    if bi is None or di is None:
        raise ValueError(f"{who} needs bi (or n1i) and di (or n2i)")
    if n1i is not None and get["bi"] is not None:
        _check(n1i != ai + bi, "n1i is not equal to ai + bi")
    if n2i is not None and get["di"] is not None:
        _check(n2i != ci + di, "n2i is not equal to ci + di")
    for name, arr in (("ai", ai), ("bi", bi), ("ci", ci), ("di", di)):
        _check(arr < 0, f"{name} has negative counts")
        _check(
            np.isfinite(arr) & (np.abs(arr - np.round(arr)) > 1e-8),
            f"{name} must be whole numbers of participants",
        )
    return ai, bi, ci, di


def _missing_inputs(get: dict[str, np.ndarray | None], k: int) -> np.ndarray:
    """Rows with a missing value in any supplied input column."""
    out = np.zeros(k, dtype=bool)
    for arr in get.values():
        if arr is not None and arr.size == k:
            out |= np.isnan(arr)
    return out


def escalc(
    measure: str,
    data: pd.DataFrame | None = None,
    *,
    ai: Any = None,
    bi: Any = None,
    ci: Any = None,
    di: Any = None,
    n1i: Any = None,
    n2i: Any = None,
    m1i: Any = None,
    m2i: Any = None,
    sd1i: Any = None,
    sd2i: Any = None,
    ri: Any = None,
    ni: Any = None,
    sdi: Any = None,
    xi: Any = None,
    mi: Any = None,
    ti: Any = None,
    x1i: Any = None,
    x2i: Any = None,
    t1i: Any = None,
    t2i: Any = None,
    add: float | None = None,
    to: str = "only0",
    drop00: bool = False,
    vtype: str = "LS",
    var_names: Sequence[str] = ("yi", "vi"),
    append: bool = True,
) -> pd.DataFrame:
    """Compute effect sizes ``yi`` and sampling variances ``vi`` (metafor's ``escalc``).

    Parameters
    ----------
    measure : str
        The effect size (see the list below), e.g. ``"RR"``, ``"OR"``, ``"SMD"``, ``"ZCOR"``.
    data : pandas.DataFrame, optional
        The data the column names refer to; when an input is omitted and ``data`` has a column
        with its metafor name (``ai``, ``m1i``, ``ri``...), that column is used.
    ai, bi, ci, di, n1i, n2i, m1i, m2i, sd1i, sd2i, ri, ni, sdi, xi, mi, ti, x1i, x2i, t1i, t2i : \
array-like or str, optional
        The inputs under metafor's names (2×2 cells, group sizes, means, SDs, correlations,
        counts, person-times), as arrays or column names of ``data``.
    add : float, optional
        What is added to zero cells (default 1/2; 0 for ``AS``, ``PAS``, ``PFT``, ``IRS``,
        ``IRFT``).
    to : str, default "only0"
        Which studies get ``add``: ``only0``, ``all``, ``if0all`` or ``none``.
    drop00 : bool, default False
        Set studies with no events (or only events) in both groups to missing.
    vtype : str, default "LS"
        The variance formula where metafor offers several (``LS``, ``UB``, ``AV``, ...).
    var_names : sequence of str, default ("yi", "vi")
        Names of the two new columns.
    append : bool, default True
        Return ``data`` with the two columns appended (False: only the two columns).

    Returns
    -------
    pandas.DataFrame
        ``yi`` and ``vi`` (after the columns of ``data`` when ``append``), with the measure in
        ``.attrs["measure"]``.

    Notes
    -----
    Measures: ``RR`` (log risk ratio), ``OR`` (log odds ratio), ``RD``, ``PETO``, ``AS``
    from 2×2 counts; ``MD``, ``SMD`` (Hedges' g, exact correction; ``vtype`` ``LS`` default,
    ``UB``, ``LS2``, ``AV``), ``SMDH``, ``ROM`` from group means; ``COR``, ``ZCOR`` from
    correlations; ``MC``, ``SMCC`` (change-score SMD), ``SMCR`` from pre/post means with the
    pre-post correlation ``ri``; ``PR`` (raw proportion; ``vtype`` ``LS``, ``UB``, ``AV``),
    ``PLN`` (log), ``PLO`` (logit), ``PAS`` (arcsine square root), ``PFT`` (Freeman–Tukey
    double arcsine) from ``xi`` events out of ``ni`` (or ``xi`` and non-events ``mi``);
    ``IR``, ``IRLN``, ``IRS`` (square root), ``IRFT`` (Freeman–Tukey) from ``xi`` events in
    ``ti`` person-time; ``IRR`` (log rate ratio) and ``IRD`` (rate difference) from ``x1i``,
    ``t1i``, ``x2i``, ``t2i``. Back-transformations: :mod:`attunement.evidence.transf`.

    Further 2×2 measures (:mod:`~attunement.evidence.effect_sizes_binary`): ``PHI`` (``vtype``
    ``LS``/``CS`` or ``ST``), ``YUQ``, ``YUY``, ``RTET`` (tetrachoric; ``add`` 0 by
    default), ``OR2DL``, ``OR2DN``, and for paired tables
    ``MPRD``, ``MPRR``, ``MPOR``, ``MPORC``, ``MPPETO``. Further measures from means, SDs,
    correlations, t statistics and reliabilities
    (:mod:`~attunement.evidence.effect_sizes_continuous`): ``MN``, ``MNLN`` (``mi`` mean,
    ``sdi``, ``ni``), ``CVR``, ``VR``, ``SMD1``, ``RPB`` (``vtype`` ``LS``/``ST`` or ``CS``),
    ``RBIS``, ``D2ORL``, ``D2ORN``, ``SMCRH``, ``ROMC``, ``UCOR`` (``vtype`` ``LS``, ``UB``,
    ``AV``), ``PCOR`` and ``ZPCOR`` (``ti`` or the partial correlation ``ri``, ``ni`` and
    ``mi`` predictors), and Cronbach's alpha ``ARAW``, ``AHW``, ``ABT`` (``ai`` alpha, ``mi``
    items, ``ni``).
    Zero cells: ``add`` is added to all four cells of studies with
    a zero cell (``to="only0"``, metafor's default), to every study (``"all"``), to every study
    if any has a zero (``"if0all"``) or never (``"none"``); ``drop00`` sets studies with no
    events (or only events) in both groups to missing. ``add`` defaults to 1/2, and to 0 for
    ``AS``, ``PAS``, ``PFT``, ``IRS`` and ``IRFT`` (as metafor, whatever ``to`` is); an
    ``add`` given explicitly is always applied.

    As metafor, an effect size or variance that comes out as ±Inf (a zero cell with
    ``to="none"``) or NaN (``ROM`` with means of opposite signs) is set to missing, and a
    negative variance too; a warning names the rows. ``ROM`` with two negative means is
    computed (the ratio is positive), as metafor.

    Examples
    --------
    The log risk ratios of the BCG trials; R: ``escalc(measure = "RR", ai = tpos, bi = tneg,
    ci = cpos, di = cneg, data = dat.bcg)`` gives yi[1] = −0.8893, vi[1] = 0.3256
    (``tests/reference/metafor_reference.json``, to 1e-10 relative):

    >>> from attunement.evidence.datasets import dat_bcg
    >>> dat = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=dat_bcg())
    >>> round(float(dat.yi[0]), 4), round(float(dat.vi[0]), 4)
    (-0.8893, 0.3256)

    Single studies entered by hand:

    >>> d = escalc("RR", ai=[4], bi=[119], ci=[11], di=[128])
    >>> round(float(d.yi[0]), 6), round(float(d.vi[0]), 6)   # metafor: -0.889311, 0.325585
    (-0.889311, 0.325585)
    >>> d = escalc("PLO", xi=[16], ni=[17])   # R: escalc("PLO", xi=16, ni=17): 2.772589, 1.0625
    >>> round(float(d.yi[0]), 6), round(float(d.vi[0]), 6)
    (2.772589, 1.0625)
    >>> d = escalc("ABT", ai=[0.93], mi=[20], ni=[103])  # R: 2.6592600369, 0.0208441897
    >>> round(float(d.yi[0]), 10), round(float(d.vi[0]), 10)
    (2.6592600369, 0.0208441897)
    """
    measure = measure.upper()
    if measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r}; choose one of {', '.join(MEASURES)}")
    if to not in {"only0", "all", "if0all", "none"}:
        raise ValueError(f"to must be 'only0', 'all', 'if0all' or 'none', not {to!r}")
    data, get = inputs(
        data, ai=ai, bi=bi, ci=ci, di=di, n1i=n1i, n2i=n2i, m1i=m1i, m2i=m2i, sd1i=sd1i,
        sd2i=sd2i, ri=ri, ni=ni, sdi=sdi, xi=xi, mi=mi, ti=ti, x1i=x1i, x2i=x2i, t1i=t1i, t2i=t2i,
    )

    def need(*names: str) -> list[np.ndarray]:
        missing = [n for n in names if get[n] is None]
        if missing:
            raise ValueError(f"measure {measure} needs {', '.join(missing)}")
        return [get[n] for n in names]  # type: ignore[misc]

    if add is None:
        add = 0.0 if measure in _ADD_ZERO_BY_DEFAULT else 0.5
    dropped = np.zeros(0, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure in _TWO_BY_TWO:
            info: dict[str, np.ndarray] = {}
            cells = table_cells(get, f"measure {measure}")
            yi, vi = _two_by_two(measure, cells, add, to, drop00, vtype, info)
            dropped = info["dropped"]
        elif measure in _TWO_GROUP_MEANS:
            yi, vi = _two_group_means(measure, need, vtype)
        elif measure in _CORRELATIONS:
            yi, vi = _correlations(measure, need, vtype)
        elif measure in _PROPORTIONS:
            yi, vi = _proportions(measure, get, need, add, to, vtype)
        elif measure in _RATES:
            yi, vi = _rates(measure, need, add, to)
        elif measure in _RATE_PAIRS:
            info = {}
            yi, vi = _rate_pairs(measure, need, add, to, drop00, info)
            dropped = info["dropped"]
        elif measure in CONTINUOUS_MEASURES:
            yi, vi = continuous_effect(measure, get, need, vtype)
        else:
            yi, vi = _change_scores(measure, need, vtype)

    yi, vi = np.asarray(yi, dtype=float).copy(), np.asarray(vi, dtype=float).copy()
    expected_missing = _missing_inputs(get, yi.size)
    if dropped.size:
        expected_missing = expected_missing | dropped
    undefined = (np.isinf(yi) | np.isinf(vi)) | ((np.isnan(yi) | np.isnan(vi)) & ~expected_missing)
    negative_vi = vi < 0
    if undefined.any() or negative_vi.any():
        bad = undefined | negative_vi
        yi[bad] = np.nan
        vi[bad] = np.nan
        why = []
        if undefined.any():
            why.append(f"row {_bad_rows(undefined)}: the effect size or its variance is "
                       "infinite or undefined for these inputs (e.g. a zero cell with "
                       "to='none', means of opposite signs for ROM, ni <= 4 for UCOR, a "
                       "zero cell for RTET)")
        if negative_vi.any():
            why.append(f"row {_bad_rows(negative_vi)}: negative sampling variance")
        warnings.warn(f"{measure}: set to missing, as metafor does: " + "; ".join(why),
                      stacklevel=2)
    missing = (np.isnan(yi) | np.isnan(vi)) & ~undefined & ~negative_vi
    if missing.any():
        warnings.warn(
            f"{measure}: effect size or variance is missing for row {_bad_rows(missing)} "
            "(missing inputs); these rows must be handled before pooling",
            stacklevel=2,
        )
    out = pd.DataFrame({var_names[0]: yi, var_names[1]: vi})
    if data is not None:
        out.index = data.index
        if append:
            base = data.drop(columns=[c for c in var_names if c in data.columns])
            out = pd.concat([base, out], axis=1)
    out.attrs["measure"] = measure
    return out


def _two_by_two(measure, cells, add, to, drop00, vtype, info):
    ai, bi, ci, di = (np.array(a, dtype=float) for a in cells)
    id00 = np.zeros(ai.shape, dtype=bool)
    if drop00:
        id00 = ((ai == 0) & (ci == 0)) | ((bi == 0) & (di == 0))
        for arr in (ai, bi, ci, di):
            arr[id00] = np.nan
    info["dropped"] = id00
    if to == "all":
        ai, bi, ci, di = ai + add, bi + add, ci + add, di + add
    elif to in {"only0", "if0all"}:
        id0 = (ai == 0) | (bi == 0) | (ci == 0) | (di == 0)
        if to == "if0all":
            id0 = np.full(ai.shape, bool(id0.any()))
        inc = np.where(id0, add, 0.0)
        ai, bi, ci, di = ai + inc, bi + inc, ci + inc, di + inc
    n1, n2 = ai + bi, ci + di
    p1, p2 = ai / n1, ci / n2
    if measure == "RR":
        return np.log(p1) - np.log(p2), 1 / ai - 1 / n1 + 1 / ci - 1 / n2
    if measure == "OR":
        return (
            np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2)),
            1 / ai + 1 / bi + 1 / ci + 1 / di,
        )
    if measure == "RD":
        if vtype == "UB":
            vi = p1 * (1 - p1) / (n1 - 1) + p2 * (1 - p2) / (n2 - 1)
        elif vtype == "LS":
            vi = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
        else:
            raise ValueError("vtype for RD must be 'LS' or 'UB'")
        return p1 - p2, vi
    if measure in BINARY_MEASURES:
        return binary_effect(measure, ai, bi, ci, di, vtype)
    if measure == "PETO":
        n = n1 + n2
        xt, yt = ai + ci, bi + di
        ei = xt * n1 / n
        vv = xt * yt * (n1 / n) * (n2 / n) / (n - 1)
        return (ai - ei) / vv, 1 / vv
    return np.arcsin(np.sqrt(p1)) - np.arcsin(np.sqrt(p2)), 1 / (4 * n1) + 1 / (4 * n2)


def _add_to(counts: list[np.ndarray], add: float, to: str) -> list[np.ndarray]:
    """metafor's zero-count rule on the count vectors of one measure (same rows in each)."""
    if to == "all":
        return [c + add for c in counts]
    if to in {"only0", "if0all"}:
        id0 = np.zeros(counts[0].shape, dtype=bool)
        for c in counts:
            id0 |= c == 0
        if to == "if0all":
            id0 = np.full(id0.shape, bool(id0.any()))
        return [c + np.where(id0, add, 0.0) for c in counts]
    return [c.copy() for c in counts]


def _proportions(measure, get, need, add, to, vtype):
    (xi,) = need("xi")
    mi, ni = get["mi"], get["ni"]
    if mi is None and ni is None:
        raise ValueError(f"measure {measure} needs ni (or the non-events mi)")
    if mi is not None and ni is not None:
        _check(ni != xi + mi, "ni is not equal to xi + mi")
    if mi is None:
        mi = ni - xi
    ni = xi + mi
    _check(xi > ni, "event counts xi are larger than the group sizes ni")
    _check((xi < 0) | (mi < 0), "counts must not be negative")
    _check(ni <= 0, "group sizes ni must be positive")
    xa, ma = _add_to([xi, mi], add, to)
    na = xa + ma
    p = xa / na
    if measure == "PAS":
        return np.arcsin(np.sqrt(p)), 1 / (4 * na)
    if measure == "PFT":
        return (0.5 * (np.arcsin(np.sqrt(xa / (na + 1))) + np.arcsin(np.sqrt((xa + 1) / (na + 1)))),
                1 / (4 * na + 2))
    allowed = {"PR": ("LS", "UB", "AV"), "PLN": ("LS", "AV"), "PLO": ("LS", "AV")}[measure]
    if vtype not in allowed:
        raise ValueError(f"vtype for {measure} must be {', '.join(allowed)}, not {vtype!r}")
    pbar = _wmean(p, na) if vtype == "AV" else None
    if measure == "PR":
        if vtype == "UB":
            return p, p * (1 - p) / (na - 1)
        if vtype == "AV":
            return p, pbar * (1 - pbar) / na
        return p, p * (1 - p) / na
    if measure == "PLN":
        return np.log(p), (1 / (pbar * na) - 1 / na) if vtype == "AV" else 1 / xa - 1 / na
    return (np.log(p / (1 - p)),
            1 / (pbar * na) + 1 / ((1 - pbar) * na) if vtype == "AV" else 1 / xa + 1 / ma)


def _rates(measure, need, add, to):
    xi, ti = need("xi", "ti")
    _check(xi < 0, "event counts xi must not be negative")
    _check(ti <= 0, "person-times ti must be positive")
    (xa,) = _add_to([xi], add, to)
    ir = xa / ti
    if measure == "IR":
        return ir, ir / ti
    if measure == "IRLN":
        return np.log(ir), 1 / xa
    if measure == "IRS":
        return np.sqrt(ir), 1 / (4 * ti)
    return 0.5 * (np.sqrt(ir) + np.sqrt(ir + 1 / ti)), 1 / (4 * ti)


def _rate_pairs(measure, need, add, to, drop00, info):
    x1, t1, x2, t2 = (np.array(a, dtype=float) for a in need("x1i", "t1i", "x2i", "t2i"))
    _check((x1 < 0) | (x2 < 0), "event counts must not be negative")
    _check((t1 <= 0) | (t2 <= 0), "person-times must be positive")
    id00 = (x1 == 0) & (x2 == 0) if drop00 else np.zeros(x1.shape, dtype=bool)
    x1[id00] = np.nan
    x2[id00] = np.nan
    info["dropped"] = id00
    x1, x2 = _add_to([x1, x2], add, to)
    r1, r2 = x1 / t1, x2 / t2
    if measure == "IRR":
        return np.log(r1) - np.log(r2), 1 / x1 + 1 / x2
    return r1 - r2, r1 / t1 + r2 / t2


def _two_group_means(measure, need, vtype):
    m1, sd1, n1, m2, sd2, n2 = need("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")
    _check((sd1 < 0) | (sd2 < 0), "standard deviations must not be negative")
    _check((n1 <= 0) | (n2 <= 0), "group sizes must be positive")
    n = n1 + n2
    mi = n - 2
    sdp = np.sqrt(((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / mi)
    if measure == "MD":
        if vtype in {"LS", "UB"}:
            return m1 - m2, sd1**2 / n1 + sd2**2 / n2
        if vtype == "HO":
            return m1 - m2, sdp**2 * (1 / n1 + 1 / n2)
        raise ValueError("vtype for MD must be 'LS', 'UB' or 'HO'")
    if measure == "SMD":
        cmi = hedges_correction(mi)
        d = (m1 - m2) / sdp
        yi = cmi * d
        if vtype == "LS":
            vi = 1 / n1 + 1 / n2 + yi**2 / (2 * n)
        elif vtype == "UB":
            vi = 1 / n1 + 1 / n2 + (1 - (mi - 2) / (mi * cmi**2)) * yi**2
        elif vtype == "LS2":
            vi = cmi**2 * (1 / n1 + 1 / n2 + d**2 / (2 * n))
        elif vtype == "AV":
            ok = ~np.isnan(yi) & ~np.isnan(n)
            mean_g = np.sum(yi[ok] * n[ok]) / np.sum(n[ok])
            vi = 1 / n1 + 1 / n2 + mean_g**2 / (2 * n)
        else:
            raise ValueError("vtype for SMD must be 'LS', 'UB', 'LS2' or 'AV'")
        return yi, vi
    if measure == "SMDH":
        cmi = hedges_correction(mi)
        si = np.sqrt((sd1**2 + sd2**2) / 2)
        yi = cmi * (m1 - m2) / si
        vi = yi**2 * (sd1**4 / (n1 - 1) + sd2**4 / (n2 - 1)) / (2 * (sd1**2 + sd2**2) ** 2) + (
            sd1**2 / (n1 - 1) + sd2**2 / (n2 - 1)
        ) / ((sd1**2 + sd2**2) / 2)
        return yi, cmi**2 * vi
    # ROM: log(m1i/m2i) as metafor; two negative means give a positive ratio, opposite signs
    # or a zero mean give NaN/±Inf, set to missing (with a warning) by escalc
    return np.log(m1 / m2), sd1**2 / (n1 * m1**2) + sd2**2 / (n2 * m2**2)


def _correlations(measure, need, vtype):
    ri, ni = need("ri", "ni")
    _check(np.abs(ri) > 1, "correlations must lie between -1 and 1")
    _check(ni <= 0, "sample sizes must be positive")
    if measure == "ZCOR":
        _check(ni <= 3, "ZCOR needs more than 3 participants per study (variance 1/(ni - 3))")
        return np.arctanh(ri), 1 / (ni - 3)
    if vtype != "LS":
        raise ValueError("vtype for COR must be 'LS'")
    _check(ni <= 1, "COR needs more than 1 participant per study")
    return ri.copy(), (1 - ri**2) ** 2 / (ni - 1)


def _change_scores(measure, need, vtype):
    if measure == "SMCR":
        m1, sd1, m2, ni, ri = need("m1i", "sd1i", "m2i", "ni", "ri")
        sd2 = None
    else:
        m1, sd1, m2, sd2, ni, ri = need("m1i", "sd1i", "m2i", "sd2i", "ni", "ri")
    _check(np.abs(ri) > 1, "pre-post correlations must lie between -1 and 1")
    _check(ni <= 0, "sample sizes must be positive")
    mi = ni - 1
    if measure == "MC":
        return m1 - m2, (sd1**2 + sd2**2 - 2 * ri * sd1 * sd2) / ni
    cmi = hedges_correction(mi)
    if measure == "SMCC":
        sdd = np.sqrt(sd1**2 + sd2**2 - 2 * ri * sd1 * sd2)
        d = (m1 - m2) / sdd
        yi = cmi * d
        if vtype == "LS":
            return yi, 1 / ni + yi**2 / (2 * ni)
        if vtype == "LS2":
            return yi, cmi**2 * (1 / ni + d**2 / (2 * ni))
        raise ValueError("vtype for SMCC must be 'LS' or 'LS2'")
    d = (m1 - m2) / sd1
    yi = cmi * d
    if vtype == "LS":
        return yi, 2 * (1 - ri) / ni + yi**2 / (2 * ni)
    if vtype == "LS2":
        return yi, cmi**2 * (2 * (1 - ri) / ni + d**2 / (2 * ni))
    raise ValueError("vtype for SMCR must be 'LS' or 'LS2'")
