"""family_document returns the screening family file: valid for attunement.risk and giving the
same profile as the file the family was registered from."""

from __future__ import annotations

import pytest

from attunement.risk import profile, validate_family
from attunement.store import StoreValidationError
from attunement.usecases import families as uc_families
from attunement.usecases import profiles as uc_profiles


def _family_file(payload: dict) -> dict:
    """The payload without the store-only fields and identifiers."""
    keep = ("id", "role", "age", "first_time_parent", "context", "responses", "variants")
    out = {k: payload[k] for k in ("family_id", "assessed_on", "placement", "context")}
    out["infant"] = {
        k: payload["infant"][k] for k in ("date_of_birth", "due_date") if k in payload["infant"]
    }
    out["caregivers"] = [{k: c[k] for k in keep if k in c} for c in payload["caregivers"]]
    return out


def test_family_document_round_trips_to_the_same_profile(world, make_family):
    st = world.store
    payload = make_family("N-100", "North", context={"single_carer": False})
    payload["caregivers"][1]["responses"] = {"phq9": [3, 3, 2, 2, 1, 1, 1, 1, 0]}
    payload["caregivers"][0]["context"] = {"low_social_support": True}
    payload["context"]["domestic_violence"] = True
    fam = uc_families.register_family(st, world.north, payload)
    doc = uc_profiles.family_document(st, world.north, fam["id"])
    validate_family(doc)
    expected = profile(_family_file(payload)).to_dict()
    got = profile(doc).to_dict()
    assert got == expected
    assert got["cumulative_risk"] >= 3 and got["tier"] != "universal"  # the test has teeth
    assert doc["caregivers"][1]["responses"]["phq9"][:9] == [3, 3, 2, 2, 1, 1, 1, 1, 0]


def test_researcher_family_document_is_valid_and_gives_the_same_profile(world):
    st = world.store
    clinical = uc_profiles.family_document(st, world.north, world.fam_north)
    pseudo = uc_profiles.family_document(st, world.researcher, world.fam_north)
    validate_family(pseudo)
    assert pseudo["infant"] != clinical["infant"]  # shifted dates
    a, b = profile(clinical), profile(pseudo)
    assert (a.tier, a.urgent, a.cumulative_risk) == (b.tier, b.urgent, b.cumulative_risk)


def test_form_variants_are_kept_and_used_for_scoring(world, make_family):
    from attunement.instruments import score_responses

    st = world.store
    payload = make_family("N-101", "North")
    pbq = ([0, 1, 2, 3, 4, 5] * 5)[:25]
    payload["caregivers"][1].update(variants={"pbq": ["order_2001"]}, responses={"pbq": pbq})
    fam = uc_families.register_family(st, world.north, payload)
    a = next(x for x in st.assessments.list_assessments(world.north, fam["id"]) if x["instrument"] == "pbq")
    assert a["scores"] == score_responses("pbq", pbq, variant=["order_2001"]).scores
    doc = uc_profiles.family_document(st, world.north, fam["id"])
    assert doc["caregivers"][1]["variants"] == {"pbq": ["order_2001"]}
    validate_family(doc)


def test_family_file_rules_come_from_the_screening_schema(world, make_family):
    st = world.store
    payload = make_family("bad id!", "North")
    with pytest.raises(StoreValidationError) as err:
        uc_families.register_family(st, world.north, payload)
    assert err.value.field == "family_id"
    payload = make_family("N-102", "North")
    payload["context"] = {"domestic_violence": "yes"}
    with pytest.raises(StoreValidationError) as err:
        uc_families.register_family(st, world.north, payload)
    assert err.value.field.startswith("context")
    payload = make_family("N-103", "North")
    payload["caregivers"][0]["context"] = {"domestic_violence": True}
    with pytest.raises(StoreValidationError) as err:
        uc_families.register_family(st, world.north, payload)
    assert err.value.field == "caregivers.0.context.domestic_violence"
    assert "family-level" in err.value.reason
