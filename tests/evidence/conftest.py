"""Fixtures for the evidence tests and the ONE tolerance policy used against metafor.

Tolerance policy (docs/statistics/evidence.md): every number must match metafor 3.8-1 to 1e-6
relative, or 1e-6 absolute for values near zero. The fixture was produced with metafor's
convergence tightened to 1e-12, so iterative estimators (ML, REML, EB, PM, Q-profile bounds) are
compared with the converged optimum, not metafor's default stopping point. Closed-form
quantities are held to a tighter 1e-10 relative so a formula slip cannot hide inside the
iterative tolerance.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

RTOL = 1e-6  # relative, every quantity
ATOL = 1e-6  # absolute, values near zero
RTOL_CLOSED_FORM = 1e-10


def _as_array(x: Any) -> np.ndarray:
    if isinstance(x, (list, tuple)):
        return np.array([np.nan if v is None else v for v in x], dtype=float)
    return np.asarray(np.nan if x is None else x, dtype=float)


def assert_matches(actual: Any, expected: Any, *, closed_form: bool = False, what: str = "") -> None:
    """Compare with the metafor value under the project's tolerance policy (None = NaN)."""
    a, e = _as_array(actual), _as_array(expected)
    rtol = RTOL_CLOSED_FORM if closed_form else RTOL
    atol = 1e-12 if closed_form else ATOL
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


@pytest.fixture(scope="session")
def metafor(reference_dir: Path) -> dict[str, Any]:
    with open(reference_dir / "metafor_reference.json") as fh:
        return json.load(fh)


@pytest.fixture(scope="session")
def close() -> Callable[..., None]:
    return assert_matches


@pytest.fixture(scope="session")
def datasets(metafor: dict[str, Any]) -> dict[str, pd.DataFrame]:
    return {name: pd.DataFrame(d["data"]) for name, d in metafor["datasets"].items()}


#: primary analysis blocks of the fixture -> (data set, measure)
PRIMARY = {
    "bcg_RR": ("bcg", "RR"),
    "normand1999_SMD": ("normand1999", "SMD"),
    "molloy2014_ZCOR": ("molloy2014", "ZCOR"),
}


@pytest.fixture(params=list(PRIMARY))
def analysis(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def effect_data(datasets: dict[str, pd.DataFrame]) -> Callable[[str, str], pd.DataFrame]:
    """escalc() on a fixture data set, with the column mapping the R script used."""
    from attunement.evidence import escalc

    def make(name: str, measure: str) -> pd.DataFrame:
        d = datasets[name]
        if name == "bcg":
            return escalc(measure, d, ai="tpos", bi="tneg", ci="cpos", di="cneg")
        return escalc(measure, d)

    return make


@pytest.fixture
def dat(analysis: str, effect_data: Callable[[str, str], pd.DataFrame]) -> pd.DataFrame:
    """Effect sizes of the primary data set of ``analysis``."""
    return effect_data(*PRIMARY[analysis])
