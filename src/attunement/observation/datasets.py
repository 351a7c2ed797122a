"""Small coded sessions for the docstring examples and for trying the measures by hand.

Each is a worked example of ``docs/statistics/coded-interaction.md`` whose values are computed by hand
there and checked in ``tests/observation/test_measures.py``.
"""

from __future__ import annotations

import pandas as pd

from attunement.observation.events import make_event_table

__all__ = ["worked_example_b"]


def worked_example_b() -> pd.DataFrame:
    """Worked example B: one 60-s session, three infant cries and four soothing responses.

    Cries at 3–8, 25–31 and 47–50 s; the mother's soothing at 5–12, 18–20, 28–35 and 55–58 s;
    the coded interval is the whole session.

    Returns
    -------
    pandas.DataFrame
        A canonical event table (:func:`~attunement.observation.events.make_event_table`).

    Examples
    --------
    R: ``psych::Yule(matrix(c(2, 2, 13, 43), 2))`` is 0.5357143 for its time-window table.

    >>> ev = worked_example_b()
    >>> ev.groupby("code").size().to_dict()
    {'cry': 3, 'soothe': 4}
    """
    rows = [{"session": "s1", "actor": "infant", "code": "cry", "onset": a, "offset": b}
            for a, b in [(3, 8), (25, 31), (47, 50)]]
    rows += [{"session": "s1", "actor": "mother", "code": "soothe", "onset": a, "offset": b}
             for a, b in [(5, 12), (18, 20), (28, 35), (55, 58)]]
    return make_event_table(rows).assign(duration=60.0, interval_start=0.0, interval_end=60.0)
