"""The store randomises with the randomisation it is given (the use case passes the trials
library's: attunement.usecases.trials), and only after its own checks: a family outside the
actor's scope is NotFound before the randomisation is asked anything."""

from __future__ import annotations

from typing import Any

import pytest

from attunement.store import NotFound
from attunement.store.trials import SequenceMismatch
from attunement.usecases.trials import LibraryRandomisation

from .conftest import DESIGN, SECRET, TrialWorld


class _Recording(LibraryRandomisation):
    """The library's randomisation, recording what the store asks."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def allocate(self, design: dict[str, Any], secret: str, history: list[dict[str, Any]],
                 participant: str, inputs: dict[str, str], actor: str) -> dict[str, Any]:
        self.calls.append(participant)
        return super().allocate(design, secret, history, participant, inputs, actor)


def test_the_store_allocates_with_the_randomisation_it_is_given(tw: TrialWorld):
    given = _Recording()
    tw.store.trials.define_design(tw.admin, tw.study, DESIGN, secret=SECRET, randomisation=given)
    with pytest.raises(NotFound):
        tw.store.trials.randomise(tw.pa, tw.fam_b, values={"smi": "no"}, randomisation=given)
    assert given.calls == []
    out = tw.store.trials.randomise(tw.pa, tw.fam_a[0], values={"smi": "no"},
                                    randomisation=given)
    assert given.calls == [str(tw.fam_a[0])] and out["arm"] in DESIGN["arms"]
    assert tw.store.trials.verify(tw.admin, tw.study, randomisation=given) == []


def test_a_sequence_the_randomisation_cannot_replay_stops_randomising(tw: TrialWorld):
    tw.trials.define_design(tw.admin, tw.study, DESIGN, secret=SECRET)
    tw.trials.randomise(tw.pa, tw.fam_a[0], values={"smi": "no"})

    class Refusing(LibraryRandomisation):
        def allocate(self, *args: Any) -> dict[str, Any]:
            raise SequenceMismatch("allocation 1 does not replay")

    with pytest.raises(SequenceMismatch, match=f"study {tw.study}: allocation 1"):
        tw.store.trials.randomise(tw.pa, tw.fam_a[1], values={"smi": "no"},
                                  randomisation=Refusing())
    assert len(tw.trials.list_allocations(tw.admin, tw.study)) == 1
