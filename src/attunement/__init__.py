"""attunement: attachment-informed perinatal care and research.

The top level re-exports the three calls most people start with::

    import attunement
    scores = attunement.score("epds", df)          # questionnaire scoring
    prof = attunement.profile(family)               # cumulative vulnerability profile
    recs = attunement.match(prof, family)           # matched interventions

Imports are lazy so that ``import attunement`` stays cheap.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "match", "profile", "score"]


def score(instrument_id: str, data: Any, *, input: str = "scores", **kwargs: Any) -> Any:
    """Score questionnaire responses; see :func:`attunement.instruments.score`."""
    from attunement.instruments import score as _score

    return _score(instrument_id, data, input=input, **kwargs)


def profile(family: Any, **kwargs: Any) -> Any:
    """Build a family's vulnerability profile; see :func:`attunement.risk.profile`."""
    from attunement.risk import profile as _profile

    return _profile(family, **kwargs)


def match(profile: Any, family: Any, *, offered: Any = None, **kwargs: Any) -> Any:
    """Match interventions to a profile; see :func:`attunement.interventions.match`."""
    from attunement.interventions import match as _match

    return _match(profile, family, offered=offered, **kwargs)
