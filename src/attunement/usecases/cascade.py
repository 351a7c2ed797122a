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
    """
    tables = cascade_tables(store, actor, site=site, study=study)
    return compute_cascade(*tables)


def records(df: Any) -> list[dict[str, Any]]:
    """A result table as JSON-ready records (NaN becomes None)."""
    out = []
    for row in df.to_dict("records"):
        out.append({k: (None if isinstance(v, float) and math.isnan(v) else v)
                    for k, v in row.items()})
    return out
