"""Five of metafor's example data sets, for the examples in the docstrings and for trying the
functions out (the same values as R's ``metafor::dat.bcg``, ``dat.berkey1998``,
``dat.hackshaw1998``, ``dat.konstantopoulos2011`` and ``dat.raudenbush1985``).

>>> from attunement.evidence.datasets import dat_bcg
>>> dat_bcg().shape
(13, 9)
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["dat_bcg", "dat_berkey1998", "dat_hackshaw1998",
           "dat_konstantopoulos2011", "dat_raudenbush1985"]


@cache
def _columns() -> dict[str, dict[str, list[Any]]]:
    with (Path(__file__).parent / "datasets.json").open(encoding="utf-8") as fh:
        return json.load(fh)


def _load(name: str) -> pd.DataFrame:
    """A fresh frame of one data set (callers may change it)."""
    return pd.DataFrame(_columns()[name])


def dat_bcg() -> pd.DataFrame:
    """The 13 BCG vaccine trials (metafor's ``dat.bcg``; Colditz et al. 1994, JAMA 271:698).

    Returns
    -------
    pandas.DataFrame
        ``trial``, ``author``, ``year``; ``tpos``/``tneg``: tuberculosis cases and non-cases in
        the vaccinated arm, ``cpos``/``cneg`` in the control arm; ``ablat``: absolute latitude
        of the study site; ``alloc``: allocation (random, alternate, systematic).

    Examples
    --------
    >>> dat = dat_bcg()
    >>> int(dat.tpos.sum()), int(dat.cpos.sum())
    (1065, 1510)
    """
    return _load("bcg")


def dat_hackshaw1998() -> pd.DataFrame:
    """37 studies of environmental tobacco smoke and lung cancer in never-smoking women
    (metafor's ``dat.hackshaw1998``; Hackshaw, Law & Wald 1997, BMJ 315:980).

    Returns
    -------
    pandas.DataFrame
        ``yi``: log odds ratio, ``vi``: its sampling variance.

    Examples
    --------
    >>> len(dat_hackshaw1998())
    37
    """
    return _load("hackshaw1998")


def dat_berkey1998() -> pd.DataFrame:
    """Five trials of periodontal surgery against non-surgical treatment, two outcomes each
    (metafor's ``dat.berkey1998``; Berkey et al. 1998, Stat Med 17:2537).

    Returns
    -------
    pandas.DataFrame
        ``trial``, ``outcome`` (``PD``: probing depth, ``AL``: attachment level), ``year``;
        ``yi``: mean difference, ``vi``: its variance; ``v1i``/``v2i``: the row's entries of its
        trial's 2 × 2 covariance block (covariance with PD, with AL).

    Examples
    --------
    >>> dat = dat_berkey1998()
    >>> dat.groupby("outcome").size().to_dict()
    {'AL': 5, 'PD': 5}
    """
    return _load("berkey1998")


def dat_raudenbush1985() -> pd.DataFrame:
    """19 experiments on teacher expectancy and pupil IQ (metafor's ``dat.raudenbush1985``;
    Raudenbush 1984, J Educ Psychol 76:85), the columns the examples use.

    Returns
    -------
    pandas.DataFrame
        ``yi``: standardised mean difference, ``vi``: its variance; ``weeks`` of contact
        before the expectancy was induced; ``setting`` (group or individual testing);
        ``tester`` (aware or blind).

    Examples
    --------
    >>> len(dat_raudenbush1985())
    19
    """
    return _load("raudenbush1985")


def dat_konstantopoulos2011() -> pd.DataFrame:
    """56 studies (schools) of modified school calendars in 11 districts (metafor's
    ``dat.konstantopoulos2011``; Konstantopoulos 2011, https://doi.org/10.1002/jrsm.35), the
    columns the examples use.

    Returns
    -------
    pandas.DataFrame
        ``district``, ``year``; ``yi``: standardised mean difference, ``vi``: its variance.

    Examples
    --------
    >>> dat = dat_konstantopoulos2011()
    >>> len(dat), dat.district.nunique()
    (56, 11)
    """
    return _load("konstantopoulos2011")
