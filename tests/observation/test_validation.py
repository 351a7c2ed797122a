"""Coding-scheme and event validation: line numbers, strict and lenient modes."""

from __future__ import annotations

import math

import pytest

from attunement.observation import (
    ObservationError,
    load_scheme,
    parse_scheme,
    read_events,
    validate_events,
)

SCHEME = """\
scheme: test-v1
infant: [Infant]
caregivers: [Mother]
codes:
  cry:    {actor: infant, role: cue, kind: state, category: distress}
  fuss:   {actor: infant, role: cue, kind: state, category: distress}
  babble: {actor: infant, role: cue, kind: point, category: vocal}
  soothe: {actor: caregiver, role: response, kind: state}
  talk:   {actor: caregiver, role: response, kind: point}
exclusive:
  infant_distress: [cry, fuss]
"""


def test_scheme_loads(data_dir):
    s = parse_scheme(SCHEME)
    assert s.cue_codes() == ["cry", "fuss", "babble"]
    assert s.response_codes() == ["soothe", "talk"]
    assert s.category("cry") == "distress" and s.category("soothe") == "soothe"
    assert s.exclusive == {"infant_distress": ("cry", "fuss")}
    assert load_scheme(data_dir / "dyad_scheme.yaml").codes["vocalise"].kind == "point"


@pytest.mark.parametrize("bad,line,match", [
    (SCHEME.replace("role: cue, kind: state, category: distress}\n  fuss",
                    "role: cure, kind: state, category: distress}\n  fuss"), 5, "role must be"),
    (SCHEME.replace("kind: point, category: vocal", "kind: pointy, category: vocal"), 7,
     "kind must be"),
    (SCHEME.replace("[cry, fuss]", "[cry, shout]"), 11, "'shout' is not in 'codes'"),
    (SCHEME.replace("[cry, fuss]", "[cry, babble]"), 11, "point event"),
    (SCHEME.replace("soothe: {actor: caregiver, role: response",
                    "soothe: {actor: infant, role: response"), 8, "caregiver behaviour"),
    (SCHEME + "colour: blue\n", 1, "colour: is not a field of a coding scheme"),
    ("scheme: x\ncodes: [a, b\n", 3, "not valid YAML"),
])
def test_scheme_errors_name_the_line(bad, line, match):
    with pytest.raises(ObservationError, match=match) as exc:
        parse_scheme(bad, source="scheme.yaml")
    assert exc.value.line == line
    assert "scheme.yaml" in str(exc.value)


def test_scheme_fields_of_the_wrong_type_are_named_not_coerced():
    # before: str(['free', 'play']) silently became the scheme's description
    bad = SCHEME + "description: [free, play]\n"
    with pytest.raises(ObservationError, match=r"description: expected string, got \['free', "
                       r"'play'\]") as exc:
        parse_scheme(bad, source="scheme.yaml")
    assert exc.value.line == 1 and "scheme.yaml" in str(exc.value)


def test_scheme_reports_every_problem_at_once():
    bad = SCHEME.replace("kind: point, category: vocal", "kind: pointy, category: vocal").replace(
        "[cry, fuss]", "[cry, shout]")
    with pytest.raises(ObservationError) as exc:
        parse_scheme(bad)
    assert len(exc.value.problems) == 2


CSV = """\
session,actor,code,onset,offset,duration
s1,Infant,cry,1,4,60
s1,Infant,fuss,3,6,60
s1,Mother,soothe,2,,60
s1,Mother,talk,5,7,60
s1,Infant,cry,9,8,60
s1,Infant,shout,10,11,60
s1,Mother,cry,12,13,60
s1,Father,talk,14,,60
s1,Infant,cry,50,65,60
s1,Infant,babble,70,,60
"""


@pytest.fixture
def messy(tmp_path):
    f = tmp_path / "messy.csv"
    f.write_text(CSV)
    return read_events(f), f


def test_strict_mode_lists_every_problem_with_its_line(messy):
    events, path = messy
    with pytest.raises(ObservationError) as exc:
        validate_events(events, parse_scheme(SCHEME))
    problems = exc.value.problems
    text = "\n".join(problems)
    expected = [
        (f"{path}:2", "overlaps 'fuss' starting at 3 s"),  # cry 1-4 and fuss 3-6: one group
        (f"{path}:4", "has no stop"),
        (f"{path}:5", "point event 'talk' has a duration"),
        (f"{path}:6", "offset 8 s is before its onset 9 s"),
        (f"{path}:7", "not in scheme"),
        (f"{path}:8", "is an infant code but the actor is 'Mother'"),
        (f"{path}:9", "not one of the scheme's caregivers"),
        (f"{path}:10", "after the session end"),
        (f"{path}:11", "after the session end"),
    ]
    for where, what in expected:
        assert any(p.startswith(where) and what in p for p in problems), (where, what, text)


def test_lenient_mode_repairs_and_reports_each_repair(messy):
    events, _ = messy
    res = validate_events(events, parse_scheme(SCHEME), mode="lenient")
    ev = res.events.set_index(["code", "onset"])
    assert ev.loc[("cry", 1.0), "offset"] == 3.0          # stopped where fuss starts
    assert ev.loc[("soothe", 2.0), "offset"] == 60.0      # closed at the session end
    assert math.isnan(ev.loc[("talk", 5.0), "offset"])    # point: offset removed
    assert ev.loc[("cry", 50.0), "offset"] == 60.0        # clipped to the session end
    assert len(res.events) == len(events) - 5             # 9>8, shout, Mother cry, Father, 70 s
    assert len(res.repairs) == 9
    assert set(res.repairs.columns) >= {"source", "problem", "repair"}
    assert res.repairs["repair"].str.len().gt(0).all()


def test_valid_events_pass_unchanged(data_dir):
    ev = read_events(data_dir / "boris_aggregated_example.tsv")
    res = validate_events(ev, load_scheme(data_dir / "dyad_scheme.yaml"))
    assert res.ok and len(res.events) == len(ev)


def test_offset_before_onset_without_a_scheme(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("session,actor,code,onset,offset\ns,infant,cry,5,2\n")
    with pytest.raises(ObservationError, match="before its onset") as exc:
        validate_events(read_events(f))
    assert f"{f}:2" in str(exc.value)


def test_scheme_with_a_mapping_inside_an_exclusive_group_is_a_clear_error():
    # found by atheris: a flow mapping where a code name was expected
    text = ("scheme: x\ncodes:\n  cry: {actor: infant, role: cue}\n"
            "exclusive:\n  g: [r: caregiver, cry]\n")
    with pytest.raises(ObservationError, match="is not a code name"):
        parse_scheme(text)
