"""``content.plain`` is the ``to_dict`` of the domain results: fields in order, tuples as lists."""

from __future__ import annotations

import json

from attunement.content import plain
from attunement.risk import load_definitions
from attunement.risk.family import InfantTiming
from attunement.risk.results import Treatment
from attunement.vocabulary import load_vocabulary


def test_factor_to_dict_is_json_ready_and_leaves_out_the_carer_label() -> None:
    factor = load_definitions().factor("perinatal_depression")
    d = factor.to_dict()
    assert list(d) == ["id", "label", "description", "level", "evidence", "scores", "recorded",
                       "derived"]
    assert d["scores"][0] == {"column": "epds_total", "op": ">=", "threshold": 10.0,
                              "meaning": factor.scores[0].meaning,
                              "source": factor.scores[0].source, "roles": list(factor.scores[0].roles),
                              "stage": None, "id": "epds_fathers"}
    assert json.loads(json.dumps(d)) == d  # nothing but JSON types


def test_infant_timing_leaves_out_gestation_days() -> None:
    t = InfantTiming("antenatal", gestation_weeks=31.3, gestation_days=219)
    assert t.to_dict() == {"stage": "antenatal", "gestation_weeks": 31.3, "age_days": None,
                           "age_months": None, "corrected_age_months": None,
                           "gestational_age_at_birth_weeks": None, "count": 1}


def test_plain_mixin_and_nesting() -> None:
    t = Treatment("M1", "gp", "Perinatal depression")
    assert list(t.to_dict()) == ["caregiver", "route", "reason", "label", "contact", "source",
                                 "urgency"]
    contacts = load_vocabulary().crisis_contacts
    assert plain({"c": contacts}) == {"c": [c.to_dict() for c in contacts]}
    assert plain((1, [2, (3,)])) == [1, [2, [3]]]
