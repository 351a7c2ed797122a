"""Two of metafor's example data sets, for the examples in the docstrings and for trying the
functions out (the same values as R's ``metafor::dat.bcg``, ``dat.berkey1998``,
``dat.hackshaw1998``, ``dat.konstantopoulos2011`` and ``dat.raudenbush1985``).

>>> from attunement.evidence.datasets import dat_bcg
>>> dat_bcg().shape
(13, 9)
"""

from __future__ import annotations

import pandas as pd

__all__ = ["dat_bcg", "dat_berkey1998", "dat_hackshaw1998",
           "dat_konstantopoulos2011", "dat_raudenbush1985"]


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
    return pd.DataFrame({
        "trial": [
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
        ],
        "author": [
            "Aronson", "Ferguson & Simes", "Rosenthal et al", "Hart & Sutherland",
            "Frimodt-Moller et al", "Stein & Aronson", "Vandiviere et al", "TPT Madras",
            "Coetzee & Berjak", "Rosenthal et al", "Comstock et al", "Comstock & Webster",
            "Comstock et al",
        ],
        "year": [
            1948, 1949, 1960, 1977, 1973, 1953, 1973, 1980, 1968, 1961, 1974, 1969, 1976,
        ],
        "tpos": [
            4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27,
        ],
        "tneg": [
            119, 300, 228, 13536, 5036, 1361, 2537, 87886, 7470, 1699, 50448, 2493, 16886,
        ],
        "cpos": [
            11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29,
        ],
        "cneg": [
            128, 274, 209, 12619, 5761, 1079, 619, 87892, 7232, 1600, 27197, 2338, 17825,
        ],
        "ablat": [
            44, 55, 42, 52, 13, 44, 19, 13, 27, 42, 18, 33, 33,
        ],
        "alloc": [
            "random", "random", "random", "random", "alternate", "alternate", "random", "random",
            "random", "systematic", "systematic", "systematic", "systematic",
        ],
    })


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
    return pd.DataFrame({
        "yi": [
            0.165514438477573, 0.371563556432483, 0.703097511413113, 0.182321556793955,
            -0.287682072451781, 0.727548607277278, 0.756121979721334, -0.22314355131421,
            -0.23572233352107, 0.698134722070984, 0.207014169384326, 0.182321556793955,
            0.418710334858185, 0.0295588022415444, 0.438254930931155, 0.0295588022415444,
            0.85015092936961, 0.500775287912489, 0.173953307123438, 0.418710334858185,
            0.770108221696074, 0.0769610411361284, 0.936093359170335, 0.482426149244293,
            0.0582689081239758, -0.23572233352107, -0.301105092783922, 0.819779831493311,
            -0.0304592074847086, 0.470003629245736, 0.173953307123438, 0.506817602368452,
            0.231111720963387, 0.0953101798043249, 0.506817602368452, 0.148420005118273,
            0.104360015324243,
        ],
        "vi": [
            0.0187768854850681, 0.033044038905788, 0.540195865342449, 0.0312676144886663,
            0.0796556541020111, 0.227320591670482, 0.0889215627069803, 0.192679603117081,
            0.339016347538589, 0.0980662024387636, 0.0455555485775347, 0.231749969641464,
            0.0796429220192453, 0.217395024672567, 0.0769579740386881, 0.0715017635257731,
            0.292565772065689, 0.0324375074298712, 0.0362733466418536, 0.483851241822467,
            0.123816201921842, 0.071085191722119, 0.398195433354185, 0.089623124068944,
            0.0337198883325506, 0.0161294909173902, 0.180233473435612, 0.317147722864399,
            0.0125468451490273, 0.113696292350967, 0.0893367804165667, 0.175985594791832,
            0.0100290474315282, 0.0862143558865863, 0.0398749675436979, 0.0363997555696295,
            0.0664195066219777,
        ],
    })


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
    return pd.DataFrame({
        "trial": [
            1, 1, 2, 2, 3, 3, 4, 4, 5, 5,
        ],
        "outcome": [
            "PD", "AL", "PD", "AL", "PD", "AL", "PD", "AL", "PD", "AL",
        ],
        "year": [
            1983, 1983, 1982, 1982, 1979, 1979, 1987, 1987, 1988, 1988,
        ],
        "yi": [
            0.47, -0.32, 0.2, -0.6, 0.4, -0.12, 0.26, -0.31, 0.56, -0.39,
        ],
        "vi": [
            0.0075, 0.0077, 0.0057, 0.0008, 0.0021, 0.0014, 0.0029, 0.0015, 0.0148, 0.0304,
        ],
        "v1i": [
            0.0075, 0.003, 0.0057, 0.0009, 0.0021, 0.0007, 0.0029, 0.0009, 0.0148, 0.0072,
        ],
        "v2i": [
            0.003, 0.0077, 0.0009, 0.0008, 0.0007, 0.0014, 0.0009, 0.0015, 0.0072, 0.0304,
        ],
    })


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
    return pd.DataFrame({
        "yi": [
            0.03, 0.12, -0.14, 1.18, 0.26, -0.06, -0.02, -0.32, 0.27, 0.8, 0.54, 0.18, -0.02, 0.23,
            -0.18, -0.06, 0.3, 0.07, -0.07,
        ],
        "vi": [
            0.0156, 0.0216, 0.0279, 0.1391, 0.1362, 0.0106, 0.0106, 0.0484, 0.0269, 0.063, 0.0912,
            0.0497, 0.0835, 0.0841, 0.0253, 0.0279, 0.0193, 0.0088, 0.0303,
        ],
        "weeks": [
            2, 21, 19, 0, 0, 3, 17, 24, 0, 1, 0, 0, 1, 2, 17, 5, 1, 2, 7,
        ],
        "setting": [
            "group", "group", "group", "group", "group", "group", "group", "group", "group",
            "indiv", "group", "group", "indiv", "indiv", "group", "group", "group", "group",
            "group",
        ],
        "tester": [
            "aware", "aware", "aware", "aware", "blind", "aware", "blind", "aware", "aware",
            "blind", "blind", "blind", "blind", "blind", "aware", "blind", "aware", "blind",
            "aware",
        ],
    })


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
    return pd.DataFrame({
        "district": [
            11, 11, 11, 11, 12, 12, 12, 12, 18, 18, 18, 27, 27, 27, 27, 56, 56, 56, 56, 58, 58, 58,
            58, 58, 58, 58, 58, 58, 58, 58, 71, 71, 71, 86, 86, 86, 86, 86, 86, 86, 86, 91, 91, 91,
            91, 91, 91, 108, 108, 108, 108, 108, 644, 644, 644, 644,
        ],
        "year": [
            1976, 1976, 1976, 1976, 1989, 1989, 1989, 1989, 1994, 1994, 1994, 1976, 1976, 1976,
            1976, 1997, 1997, 1997, 1997, 1976, 1976, 1976, 1976, 1976, 1976, 1976, 1976, 1976,
            1976, 1976, 1997, 1997, 1997, 1997, 1997, 1997, 1997, 1997, 1997, 1997, 1997, 2000,
            2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000, 1995, 1995, 1994, 1994,
        ],
        "yi": [
            -0.18, -0.22, 0.23, -0.3, 0.13, -0.26, 0.19, 0.32, 0.45, 0.38, 0.29, 0.16, 0.65, 0.36,
            0.6, 0.08, 0.04, 0.19, -0.06, -0.18, 0, 0, -0.28, -0.04, -0.3, 0.07, 0, 0.05, -0.08,
            -0.09, 0.3, 0.98, 1.19, -0.07, -0.05, -0.01, 0.02, -0.03, 0, 0.01, -0.1, 0.5, 0.66,
            0.2, 0, 0.05, 0.07, -0.52, 0.7, -0.03, 0.27, -0.34, 0.12, 0.61, 0.04, -0.05,
        ],
        "vi": [
            0.118, 0.118, 0.144, 0.144, 0.014, 0.014, 0.015, 0.024, 0.023, 0.043, 0.012, 0.02,
            0.004, 0.004, 0.007, 0.019, 0.007, 0.005, 0.004, 0.02, 0.018, 0.019, 0.022, 0.02,
            0.021, 0.006, 0.007, 0.007, 0.007, 0.007, 0.015, 0.011, 0.01, 0.001, 0.001, 0.001,
            0.001, 0.001, 0.001, 0.001, 0.001, 0.01, 0.011, 0.01, 0.009, 0.013, 0.013, 0.031,
            0.031, 0.03, 0.03, 0.03, 0.087, 0.082, 0.067, 0.067,
        ],
    })
