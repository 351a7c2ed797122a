"""ITT summaries, subgroup (moderator) analysis and the CONSORT flow diagram."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attunement.trials import (
    ConsortError,
    consort_counts,
    draw_consort,
    itt_summary,
    subgroup_analysis,
)


@pytest.fixture(scope="module")
def trial(reference_dir: Path) -> pd.DataFrame:
    return pd.read_csv(reference_dir / "lmm_trial_public.csv")


def test_itt_summary(trial: pd.DataFrame) -> None:
    s = itt_summary(trial, "y")
    first = s[(s.arm == 0) & (s.wave == 0)].iloc[0]
    sub = trial[(trial.arm == 0) & (trial.wave == 0)]
    assert first["mean"] == pytest.approx(sub["y"].mean())
    assert first["randomised"] == trial.loc[trial.arm == 0, "family"].nunique()
    assert (s["observed"] <= s["randomised"]).all()


def test_subgroup_analysis_matches_lme4_moderator_model(trial: pd.DataFrame,
                                                        reference_dir: Path) -> None:
    ref = json.loads((reference_dir / "lmm_trial_public.json").read_text())
    effects, test, fit = subgroup_analysis(trial, "y", "smi")
    b, se = ref["moderator_fixef"], ref["moderator_se"]
    inter = fit.fixed.set_index("term").loc["factor(arm)1:wave:factor(smi)1"]
    assert inter["estimate"] == pytest.approx(b["arm:wave:smi"], rel=1e-4)
    assert test["chi2"].iloc[0] == pytest.approx((b["arm:wave:smi"] / se["arm:wave:smi"]) ** 2,
                                                  rel=2e-4)
    no_smi = effects[effects.level == 0].iloc[0]
    smi = effects[effects.level == 1].iloc[0]
    assert no_smi["estimate"] == pytest.approx(b["arm:wave"], rel=1e-4)
    assert smi["estimate"] == pytest.approx(b["arm:wave"] + b["arm:wave:smi"], rel=1e-4)
    assert no_smi["se"] == pytest.approx(se["arm:wave"], rel=1e-4)
    assert smi["ci_lb"] < smi["estimate"] < smi["ci_ub"]


def _records(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 200
    arm = np.where(rng.random(n) < 0.7, rng.choice(["ABC", "usual care"], n), "")
    r = arm != ""
    df = pd.DataFrame({"arm": arm})
    df["exclusion_reason"] = np.where(r, "", rng.choice(["not_eligible", "declined", "moved"], n))
    df["received"] = np.where(r, rng.choice(["yes", "no"], n, p=[0.9, 0.1]), "")
    df["lost_to_follow_up"] = np.where(r, rng.choice(["yes", "no"], n, p=[0.2, 0.8]), "")
    df["lost_reason"] = np.where(df.lost_to_follow_up == "yes", "moved away", "")
    df["analysed"] = np.where(r, np.where(df.lost_to_follow_up == "yes", "no", "yes"), "")
    return df


def test_consort_counts_add_up() -> None:
    df = _records()
    c = consort_counts(df)
    assert c.assessed == 200
    assert c.excluded + c.randomised == c.assessed
    assert c.not_eligible + c.declined + sum(c.other.values()) == c.excluded
    assert sum(a.allocated for a in c.arms) == c.randomised
    abc = next(a for a in c.arms if a.arm == "ABC")
    m = df.arm == "ABC"
    assert abc.received == int((m & (df.received == "yes")).sum())
    assert abc.lost == int((m & (df.lost_to_follow_up == "yes")).sum())
    assert abc.lost_reasons == {"moved away": abc.lost}
    assert abc.analysed == abc.allocated - abc.lost
    assert abc.discontinued is None  # column absent: shown as not recorded, not guessed
    assert set(c.to_frame()["stage"]) == {"enrolment", "allocation", "follow-up", "analysis"}


def test_consort_bad_records() -> None:
    df = _records()
    df.loc[5, "received"] = "maybe"
    with pytest.raises(ConsortError, match="row 7, column 'received'"):
        consort_counts(df, source="r.csv")
    with pytest.raises(ConsortError, match="'arm'"):
        consort_counts(pd.DataFrame({"x": [1]}))


def test_consort_svg_and_png(tmp_path: Path) -> None:
    written = draw_consort(consort_counts(_records()), tmp_path / "flow")
    svg, png = sorted(written, key=lambda p: p.suffix, reverse=True)
    assert svg.suffix == ".svg" and png.suffix == ".png"
    text = svg.read_text()
    assert "<svg" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _many_reasons() -> pd.DataFrame:
    """12 other exclusion reasons, 8 loss and 8 discontinuation reasons per arm, some long."""
    rows = [{"arm": "", "exclusion_reason": r} for r in ["not_eligible"] * 5 + ["declined"] * 4]
    rows += [{"arm": "", "exclusion_reason": f"exclusion reason {i} with a fairly long free-text "
              "explanation from the screening log"} for i in range(12)]
    for arm in ("ABC", "usual care"):
        for i in range(8):
            rows.append({"arm": arm, "received": "no", "not_received_reason": f"not given {i}",
                         "lost_to_follow_up": "yes", "lost_reason": f"lost reason {i}: family moved "
                         "out of the catchment area and could not be contacted",
                         "discontinued": "yes", "discontinued_reason": f"stopped {i}",
                         "analysed": "no", "analysis_exclusion_reason": f"no outcome {i}"})
        rows += [{"arm": arm, "received": "yes", "lost_to_follow_up": "no",
                  "discontinued": "no", "analysed": "yes"}] * 10
    return pd.DataFrame(rows)


@pytest.mark.parametrize("title", [None, "ABC trial"])
def test_consort_boxes_never_overlap_with_many_reasons(tmp_path: Path, title: str | None,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.figure import Figure

    figures: list[Figure] = []
    save = Figure.savefig

    def capture(self: Figure, *args: object, **kwargs: object) -> None:
        figures.append(self)
        save(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", capture)
    counts = consort_counts(_many_reasons())
    assert len(counts.other) == 12 and len(counts.arms[0].lost_reasons) == 8
    draw_consort(counts, tmp_path / "flow.png", title=title)
    fig = figures[0]
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    rects = [p.get_window_extent(renderer) for p in ax.patches]
    assert len(rects) == 3 + 3 * len(counts.arms)
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            assert not a.overlaps(b), f"boxes overlap: {a} and {b}"
    page = fig.bbox
    for t in (t for t in ax.texts if t.get_text()):  # annotations with "" are arrows
        ext = t.get_window_extent(renderer)
        assert page.x0 <= ext.x0 and ext.x1 <= page.x1 and page.y0 <= ext.y0 and ext.y1 <= page.y1
        if t.get_rotation() == 0 and t.get_text() != title:  # box text sits inside one box
            inside = [r for r in rects if r.x0 <= ext.x0 and ext.x1 <= r.x1
                      and r.y0 <= ext.y0 and ext.y1 <= r.y1]
            assert len(inside) == 1, t.get_text()
