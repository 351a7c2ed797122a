"""A caregiver's page language and "interpreter needed" flag (issue 13): validated, audited,
scoped, and what the one-time link tells the caregiver pages."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from attunement.store import NotFound, StoreValidationError
from attunement.store.models import AuditEntry


def test_language_and_interpreter_are_recorded_and_reach_the_link(world):
    st = world.store
    cg = st.set_caregiver_language(world.north, world.fam_north, "father", page_language="ar",
                                   interpreter_needed=True)
    assert cg["page_language"] == "ar" and cg["interpreter_needed"] is True
    family = st.get_family(world.north, world.fam_north)
    father = next(c for c in family["caregivers"] if c["id"] == "father")
    assert father["page_language"] == "ar" and father["interpreter_needed"] is True
    token = st.create_link(world.north, world.fam_north, "father", "phq9", "6w")
    assert st.open_link(token)["language"] == "ar"
    mother_token = st.create_link(world.north, world.fam_north, "mother", "phq9", "6w")
    assert st.open_link(mother_token)["language"] is None  # the service default
    with st._db.read() as s:  # the audit row is the promise
        rows = s.execute(select(AuditEntry).where(AuditEntry.entity == "caregiver")
                         .order_by(AuditEntry.id.desc())).scalars().first()
        assert rows is not None and "interpreter_needed" in str(rows.after)


@pytest.mark.parametrize("tag", ["Arabic", "e", "en_GB", "x" * 40])
def test_a_bad_language_tag_is_refused_and_nothing_changes(world, tag):
    st = world.store
    with pytest.raises(StoreValidationError) as err:
        st.set_caregiver_language(world.north, world.fam_north, "father", page_language=tag,
                                  interpreter_needed=True)
    assert err.value.field == "page_language"
    family = st.get_family(world.north, world.fam_north)
    father = next(c for c in family["caregivers"] if c["id"] == "father")
    assert father["page_language"] is None and father["interpreter_needed"] is False


def test_another_site_cannot_set_the_language(world):
    with pytest.raises((NotFound, StoreValidationError)):
        world.store.set_caregiver_language(world.south, world.fam_north, "father",
                                           page_language="es", interpreter_needed=False)
