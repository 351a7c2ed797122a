"""The care cascade of the actor's families: the store's tables, the domain's computation."""

from __future__ import annotations

import math
from typing import Any

from attunement.cascade import CascadeResult, compute_cascade
from attunement.store import Actor, Store
from attunement.usecases.referrals import cascade_tables


def cascade_report(store: Store, actor: Actor, *, site: int | None = None,
                   study: int | None = None) -> CascadeResult:
    """The cascade of the actor's families (optionally one site and/or study).

    Parameters
    ----------
    store, actor
        The open store and who asks; the store scopes the tables to the actor.
    site, study
        Optional ids narrowing the families.

    Returns
    -------
    CascadeResult
        :func:`attunement.cascade.compute_cascade` over the store's cascade tables.

    Examples
    --------
    The example family's mother screened positive on the EPDS; once she is referred, the
    cascade counts her at each stage she reached.

    >>> from attunement.usecases.referrals import add_referral
    >>> _ = add_referral(store, practitioner, family, kind="route", target="talking_therapies",
    ...                  offered_on="2026-10-02", caregiver="mother")
    >>> report = cascade_report(store, practitioner, site=site)
    >>> [report.count(stage) for stage in ("screened", "positive", "referred", "engaged")]
    [1, 1, 1, 0]
    """
    tables = cascade_tables(store, actor, site=site, study=study)
    return compute_cascade(*tables)


def records(df: Any) -> list[dict[str, Any]]:
    """A result table as JSON-ready records, for the cascade's API answers.

    Parameters
    ----------
    df : pandas.DataFrame
        One of a :class:`~attunement.cascade.CascadeResult`'s tables.

    Returns
    -------
    list of dict
        One dict per row, column name to value; a missing number (NaN) becomes None.

    Examples
    --------
    >>> import pandas as pd
    >>> records(pd.DataFrame({"stage": ["engaged", "completed"], "percent": [50.0, float("nan")]}))
    [{'stage': 'engaged', 'percent': 50.0}, {'stage': 'completed', 'percent': None}]
    """
    out = []
    for row in df.to_dict("records"):
        out.append({k: (None if isinstance(v, float) and math.isnan(v) else v)
                    for k, v in row.items()})
    return out
