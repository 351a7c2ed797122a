"""Coded parent–infant interaction: events, sensitivity measures, sequential analysis, agreement.

Pure Python on NumPy/SciPy/pandas (no server, no database)::

    from attunement import observation as obs
    events = obs.read_events("dyad017.tsv")                  # BORIS, ELAN, SDIS, Datavyu, CSV
    scheme = obs.load_scheme("scheme.yaml")
    events = obs.validate_events(events, scheme, mode="lenient").events
    table = obs.session_metrics(events, scheme, window=(0, 5), permutations=1000, seed=1)
"""

from __future__ import annotations

from attunement.observation.agreement import (
    cohen_kappa,
    event_agreement,
    fleiss_kappa,
    icc,
    light_kappa,
    time_unit_kappa,
)
from attunement.observation.errors import ObservationError
from attunement.observation.events import EVENT_COLUMNS, make_event_table, session_durations
from attunement.observation.importers import read_events, write_events
from attunement.observation.metrics import session_metrics, session_sequences
from attunement.observation.responsiveness import cue_latencies, kaplan_meier, km_median
from attunement.observation.scheme import CodingScheme, load_scheme, parse_scheme
from attunement.observation.sequential import (
    circular_shift_test,
    lag_sequential,
    lagged_cross_correlation,
    table_2x2_stats,
    time_window_table,
    windowed_cross_correlation,
)
from attunement.observation.validation import ValidationResult, validate_events

__all__ = [
    "EVENT_COLUMNS",
    "CodingScheme",
    "ObservationError",
    "ValidationResult",
    "circular_shift_test",
    "cohen_kappa",
    "cue_latencies",
    "event_agreement",
    "fleiss_kappa",
    "icc",
    "kaplan_meier",
    "km_median",
    "lag_sequential",
    "lagged_cross_correlation",
    "light_kappa",
    "load_scheme",
    "make_event_table",
    "parse_scheme",
    "read_events",
    "session_durations",
    "session_metrics",
    "session_sequences",
    "table_2x2_stats",
    "time_unit_kappa",
    "time_window_table",
    "validate_events",
    "windowed_cross_correlation",
    "write_events",
]
