"""Validated questionnaire scoring: definitions as data, vectorised scores, explained flags.

>>> from attunement.instruments import score_responses
>>> score_responses("phq9", [2, 1, 1, 2, 0, 1, 1, 0, 1]).scores["phq9_severity"]
'mild'
"""

from __future__ import annotations

from attunement.instruments.assessment import Flag, ScoredAssessment, score_responses
from attunement.instruments.definition import (
    Band,
    Cutoff,
    Instrument,
    Item,
    SafetyRule,
    Scale,
    definition_schema,
    list_instruments,
    load_definition,
    load_instrument,
    parse_definition,
    register_instrument,
    short_names,
)
from attunement.instruments.errors import DefinitionError, ScoringError, UnknownInstrument
from attunement.instruments.export import (
    to_fhir_questionnaire,
    to_fhir_questionnaire_response,
    to_redcap_dictionary,
)
from attunement.instruments.frames import ScoringResult, score
from attunement.instruments.textpack import load_item_text_pack

__all__ = [
    "Band",
    "Cutoff",
    "DefinitionError",
    "Flag",
    "Instrument",
    "Item",
    "SafetyRule",
    "Scale",
    "ScoredAssessment",
    "ScoringError",
    "ScoringResult",
    "UnknownInstrument",
    "definition_schema",
    "list_instruments",
    "load_definition",
    "load_instrument",
    "load_item_text_pack",
    "parse_definition",
    "register_instrument",
    "score",
    "score_responses",
    "short_names",
    "to_fhir_questionnaire",
    "to_fhir_questionnaire_response",
    "to_redcap_dictionary",
]
