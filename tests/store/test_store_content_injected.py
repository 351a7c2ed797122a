"""The store reads no domain content itself: the use cases hand it the intervention
catalogue's programmes, an instrument's coded variants, the export's instrument columns, the
observation measurer and the randomisation (docs/architecture.md: only the use cases import
both the store and the domain libraries). Each test checks that the store uses what it is
given, and that a family outside the actor's scope is NotFound before any of it runs."""

from __future__ import annotations

import pytest

from attunement.usecases import families as uc_families
from attunement.usecases import profiles as uc_profiles


def test_a_researcher_sees_a_catalogue_programme_by_name_and_any_other_as_other(world):
    st = world.store
    st.care.add_episode(world.north, world.fam_north, "vipp_sd", "2026-10-02",
                     caregivers=["mother"])
    st.care.add_episode(world.north, world.fam_north, "Mrs Quillfeather's group", "2026-10-03",
                     caregivers=["mother"])
    shown = [e["programme"] for e in
             uc_families.get_family(st, world.researcher, world.fam_north)["episodes"]]
    assert shown == ["vipp_sd", "other"]
    # the store names only the programmes it is given
    bare = st.families.get_family(world.researcher, world.fam_north)["episodes"]
    assert [e["programme"] for e in bare] == ["other", "other"]
    given = st.families.get_family(world.researcher, world.fam_north,
                                   programmes=["Mrs Quillfeather's group"])["episodes"]
    assert [e["programme"] for e in given] == ["other", "Mrs Quillfeather's group"]


def test_a_researchers_family_file_keeps_the_variants_the_store_is_told_are_coded(world):
    st = world.store
    uc_families.add_caregiver(st, world.north, world.fam_north, {
        "id": "gran", "role": "other", "variants": {"pbq": ["order_2001", "Aunt May's copy"]}})
    doc = uc_profiles.family_document(st, world.researcher, world.fam_north)
    assert [c.get("variants") for c in doc["caregivers"]][-1] == {"pbq": ["order_2001"]}
    told = st.families.family_document(world.researcher, world.fam_north, review_key="x",
                                       known_variants=lambda i: {"Aunt May's copy"})
    assert told["caregivers"][-1]["variants"] == {"pbq": ["Aunt May's copy"]}


def test_the_store_keeps_the_measures_it_is_given_after_the_scope_check(world):
    from attunement.store import NotFound
    from attunement.store.observation_measures import Measured

    calls: list[str] = []

    def measure(filename, content, metadata):  # type: ignore[no-untyped-def]
        calls.append(filename)
        return Measured({"cues": ["x"]}, 7, [{"caregiver": "Mother", "n_cues": 7}])

    st = world.store
    with pytest.raises(NotFound):
        st.observations.add_observation_session(world.south, world.fam_north, filename="a.csv",
                                                content=b"not read", metadata={},
                                                measure=measure)
    assert calls == []
    o = st.observations.add_observation_session(world.north, world.fam_north, filename="a.csv",
                                                content=b"not read", metadata={},
                                                measure=measure)
    stored = st.observations.observation_measures(world.north, world.fam_north)[o["id"]]
    assert calls == ["a.csv"] and stored["n_events"] == 7
    assert stored["measures"] == [{"caregiver": "Mother", "n_cues": 7}]


def test_the_export_lays_out_the_instrument_columns_it_is_given(world):
    from attunement.store import StoreError
    from attunement.store.exports import InstrumentColumns
    from attunement.usecases import exports as uc_exports

    real = uc_exports.instrument_columns("epds")
    asked: list[str] = []

    def backwards(instrument: str) -> InstrumentColumns:
        asked.append(instrument)
        return InstrumentColumns(real.names[::-1], real.types, real.flags)

    _, body = world.store.exports.export_stream(world.researcher, fmt="csv",
                                                instrument_columns=backwards)
    parts = list(body)
    header = parts[0].decode().splitlines()[0].split(",")
    assert asked == ["epds"]
    assert header[-len(real.flags) - len(real.names):-len(real.flags)] == real.names[::-1]
    assert header[-len(real.flags):] == real.flags

    def without_total(instrument: str) -> InstrumentColumns:
        return InstrumentColumns([c for c in real.names if c != "epds_total"], real.types,
                                 real.flags)

    with pytest.raises(StoreError, match="epds_total is not a column"):
        b"".join(world.store.exports.export_stream(world.admin, fmt="csv",
                                                   instrument_columns=without_total)[1])
