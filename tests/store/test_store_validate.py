"""Input checks used by the store: nothing is silently coerced."""

from __future__ import annotations

from datetime import date

import pytest

from attunement.store import StoreValidationError
from attunement.store import validate as v


@pytest.mark.parametrize("text", ["2026-10-01", "2026-10-01T10:30:00Z", "2026-10-01 10:30"])
def test_dates_accepted(text):
    assert v.a_date(text, "when") == date(2026, 10, 1)


@pytest.mark.parametrize("text", ["2026-10-01junk", "2026-13-01", "1/10/2026", "yesterday"])
def test_dates_rejected_with_the_field_named(text):
    with pytest.raises(StoreValidationError) as err:
        v.a_date(text, "infant.due_date")
    assert err.value.field == "infant.due_date" and "YYYY-MM-DD" in err.value.reason


@pytest.mark.parametrize(
    ("number", "ok"),
    [
        ("9434765919", True),
        ("943 476 5919", True),
        ("943-476-5919", True),
        ("9434765910", False),
        ("123456789", False),
        ("4010232137", True),
    ],
)
def test_nhs_number_check_digit(number, ok):
    if ok:
        assert v.nhs_number(number, "nhs_number") == number.replace(" ", "").replace("-", "")
    else:
        with pytest.raises(StoreValidationError):
            v.nhs_number(number, "nhs_number")


def test_responses_are_whole_numbers_or_missing():
    assert v.responses([0, 1.0, None]) == [0, 1, None]
    for bad, field in (
        ([0, 1.5], "responses.2"),
        ([True], "responses.1"),
        (["2"], "responses.1"),
        ("0123", "responses"),
    ):
        with pytest.raises(StoreValidationError) as err:
            v.responses(bad)
        assert err.value.field == field


def test_identifier_errors_do_not_echo_the_value():
    for field, value in (
        ("date_of_birth", "12/03/1990"),
        ("email", "jane.doe-at-home"),
        ("nhs_number", "94347659"),
    ):
        with pytest.raises(StoreValidationError) as err:
            v.identifiers({field: value}, "caregivers.0")
        assert err.value.field == f"caregivers.0.{field}"
        assert value not in str(err.value)
