"""Attachment-informed intervention catalogue (validated YAML) and matching to a family's profile.

>>> import attunement
>>> fam = attunement.demo.synthetic_families()[0]            # doctest: +SKIP
>>> attunement.match(attunement.profile(fam), fam).to_dict()  # doctest: +SKIP
"""

from __future__ import annotations

from attunement.interventions.catalogue import (
    MECHANISM_LABELS,
    STRENGTH_LABELS,
    Catalogue,
    CatalogueError,
    Programme,
    load_catalogue,
    parse_catalogue,
)
from attunement.interventions.matching import NOTE, Exclusion, MatchResult, Recommendation, match

__all__ = [
    "MECHANISM_LABELS",
    "NOTE",
    "STRENGTH_LABELS",
    "Catalogue",
    "CatalogueError",
    "Exclusion",
    "MatchResult",
    "Programme",
    "Recommendation",
    "load_catalogue",
    "match",
    "parse_catalogue",
]
