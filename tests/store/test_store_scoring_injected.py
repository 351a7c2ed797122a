"""The store scores nothing itself: the use-case layer hands it the scorer and the family-file
check (docs/architecture.md: only the use cases import both the store and the domain)."""

from __future__ import annotations

import types

import pytest

from attunement.store import NotFound, StoreValidationError, Submission
from attunement.usecases import assessments as uc_assessments
from attunement.usecases import families as uc_families


def _fake_scorer(calls: list[tuple]):  # type: ignore[no-untyped-def]
    def score(instrument, responses, input_kind, variants):  # type: ignore[no-untyped-def]
        calls.append((instrument, list(responses), input_kind, variants))
        return types.SimpleNamespace(
            version="test-9", item_scores=list(responses), scores={"made_up_total": 99},
            flags=[])
    return score


def test_the_store_writes_what_the_given_scorer_computed(world):
    calls: list[tuple] = []
    [a] = world.store.assessments.add_assessments(
        [Submission(world.north, world.fam_north, "father", "epds", "6w", [0] * 10)],
        score=_fake_scorer(calls))
    assert calls == [("epds", [0] * 10, "scores", None)]
    assert a["scores"] == {"made_up_total": 99} and a["instrument_version"] == "test-9"


def test_the_group_commit_scores_each_submission_with_the_given_scorer(world):
    calls: list[tuple] = []
    subs = [Submission(world.north, world.fam_north, "father", "epds", "6w", [i] + [0] * 9)
            for i in range(3)]
    out = world.store.assessments.add_assessments(subs, score=_fake_scorer(calls))
    assert [c[1][0] for c in calls] == [0, 1, 2]
    assert all(r["scores"] == {"made_up_total": 99} for r in out)


def test_scope_is_checked_before_scoring(world):
    """An actor outside the family's site learns nothing from the scorer's errors."""
    calls: list[tuple] = []
    [err] = world.store.assessments.add_assessments(
        [Submission(world.south, world.fam_north, "father", "epds", "6w", [0] * 10)],
        score=_fake_scorer(calls))
    assert calls == [] and isinstance(err, NotFound)


def test_the_use_case_scores_with_the_instrument_library(world):
    from attunement.instruments import score_responses

    a = uc_assessments.submit_assessment(
        world.store, world.north, world.fam_north, "father", "epds", "6w", [1] * 10)
    assert a["scores"] == score_responses("epds", [1] * 10).scores


def test_the_family_file_check_is_the_one_given(world):
    seen: list[dict] = []

    def check(family: dict) -> None:
        seen.append(family)
        raise StoreValidationError("caregivers.0.role", "refused by the test check")

    payload = {"family_id": "INJ-1", "site": "North",
               "infant": {"due_date": "2026-12-01"},
               "caregivers": [{"id": "mother", "role": "birth_mother"}]}
    with pytest.raises(StoreValidationError) as err:
        world.store.families.create_family(
            world.north, payload, check_file=check, score=uc_assessments.score)
    assert err.value.field == "caregivers.0.role" and seen[0]["family_id"] == "INJ-1"
    with pytest.raises(StoreValidationError) as err:
        world.store.families.add_caregiver(
            world.north, world.fam_north, {"id": "gran", "role": "other"}, check_file=check,
            score=uc_assessments.score)
    assert err.value.field == "caregiver.role"  # the request's one caregiver


def test_the_use_case_checks_family_files_with_the_risk_rules(world):
    with pytest.raises(StoreValidationError) as err:
        uc_families.add_caregiver(world.store, world.north, world.fam_north,
                                  {"id": "gran", "role": "other",
                                   "context": {"no_such_answer": True}})
    assert err.value.field == "caregiver.context.no_such_answer"
    assert "unknown recorded answer" in err.value.reason
