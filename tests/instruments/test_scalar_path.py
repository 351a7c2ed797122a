"""The scalar scoring path (one submission at a time) against the vectorised engine.

``score_responses`` scores single submissions in plain Python for speed; the vectorised engine
stays the reference. Both must give IDENTICAL results (values AND types: ``True`` is not ``1``,
``12`` is not ``12.0``), identical flags and explanations, and identical errors, for every
bundled instrument and variant, with missing answers, bad answers, both input kinds and
service thresholds.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import attunement.instruments.assessment as assessment
from attunement.instruments import ScoringError, list_instruments, load_instrument, score_responses

CASES = [(inst.id, None) for inst in list_instruments()] + [
    (inst.id, name) for inst in list_instruments() for name in inst.variants
]


def _both(instrument, responses, **kw):
    results = []
    for fast in (True, False):
        assessment._fast_path = fast
        try:
            results.append(("ok", repr(score_responses(instrument, responses, **kw).to_dict())))
        except ScoringError as exc:
            results.append(("error", str(exc), getattr(exc, "column", None)))
        finally:
            assessment._fast_path = True
    return results


@st.composite
def submissions(draw):
    instrument, variant = draw(st.sampled_from(CASES))
    inst = load_instrument(instrument, variant=variant)
    input_kind = draw(st.sampled_from(["scores", "positions"]))
    answers = []
    for pos in inst.form_order():
        item = inst.item(pos)
        if input_kind == "positions":
            valid = st.integers(1, item.n_options)
        else:
            valid = st.sampled_from(sorted(set(item.scores)))
        invalid = st.one_of(
            st.integers(-3, 130),
            st.floats(-2, 8, allow_nan=False).map(lambda x: round(x, 2)),
            st.sampled_from([0.5, 1.005, 2.31, 3.59, 1e9, float("inf"), float("nan")]),
        )
        answers.append(draw(st.one_of(
            valid, valid, valid, valid, st.none(), invalid,
            valid.map(float),  # floats that are whole numbers
        )))
    thresholds = {}
    for name, value in inst.configurable_thresholds.items():
        if draw(st.booleans()):
            scale = inst.scale(next(c.scale for c in inst.cutoffs
                                    if f"{inst.id}_{c.id}" == name))
            lo, hi = scale.range
            thresholds[name] = draw(st.sampled_from([lo, hi, value, value + 1, (lo + hi) / 2]))
    as_mapping = draw(st.booleans())
    responses = {i + 1: a for i, a in enumerate(answers)} if as_mapping else answers
    return instrument, variant, input_kind, responses, thresholds


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(submissions())
def test_scalar_path_matches_the_vectorised_engine(case):
    instrument, variant, input_kind, responses, thresholds = case
    fast, reference = _both(instrument, responses, input=input_kind, variant=variant,
                            thresholds=thresholds or None)
    assert fast == reference


@pytest.mark.parametrize(("instrument", "variant"), CASES)
def test_every_bundled_instrument_takes_the_scalar_path(instrument, variant):
    # otherwise the comparison above would compare the engine with itself
    assert assessment._plan(load_instrument(instrument, variant=variant)) is not None


@pytest.mark.parametrize(("instrument", "variant"), CASES)
def test_all_missing_all_lowest_all_highest(instrument, variant):
    inst = load_instrument(instrument, variant=variant)
    n = inst.n_items
    for responses in ([None] * n,
                      [min(inst.item(p).scores) for p in inst.form_order()],
                      [max(inst.item(p).scores) for p in inst.form_order()]):
        fast, reference = _both(instrument, responses, variant=variant)
        assert fast == reference
    fast, reference = _both(instrument, [1] * n, input="positions", variant=variant)
    assert fast == reference
