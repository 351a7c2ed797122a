"""CLI commands for the evidence area: ``effect-sizes`` and ``meta`` (rma, rma.mv, rma.mh)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from attunement.cli._common import LIBRARY_PANEL, fail, print_json, read_table, write_table

MEASURE_HELP = ("SMD, MD, OR, RR, RD, ZCOR (also COR, PETO, SMDH, ROM, SMCC, MC, SMCR, AS); "
                "proportions PR, PLN, PLO, PAS, PFT; incidence rates IR, IRLN, IRS, IRFT, IRR, "
                "IRD; 2x2 PHI, YUQ, YUY, RTET, OR2DL, OR2DN; paired 2x2 MPRD, MPRR, MPOR, MPORC, "
                "MPPETO; means SMD1, CVR, VR, RPB, RBIS, D2ORL, D2ORN, SMCRH, ROMC, MN, MNLN; "
                "UCOR, PCOR, ZPCOR; Cronbach's alpha ARAW, AHW, ABT (metafor's names).")
#: measures whose pooled estimate is also shown back-transformed (metafor's transf.*)
_BACK_TRANSFORMED = {"PLN": "proportion", "PLO": "proportion", "PAS": "proportion",
                     "PFT": "proportion", "IRLN": "incidence rate", "IRS": "incidence rate",
                     "IRFT": "incidence rate"}


def _also(flag: str, what: str) -> Any:
    """A flag that adds a result to the fit's: ``--FLAG``, "Also WHAT."."""
    return typer.Option(False, flag, help=f"Also {what}.")


def _figure(flag: str, what: str, note: str = "") -> Any:
    """An option naming a figure file to write: ``--FLAG PATH``, "Write WHAT (.png, ...)"."""
    return typer.Option(None, flag, help=f"Write {what} (.png, .svg or .pdf"
                        + (f"; {note})." if note else ")."))


def _with(flag: str, needs: str, what: str, default: Any = None) -> Any:
    """An option that only applies together with another: ``--FLAG``, "With NEEDS: WHAT"."""
    return typer.Option(default, flag, help=f"With {needs}: {what}")


def _column(flag: str, what: str) -> Any:
    """An option naming a column of the table: ``--FLAG COL``, "Column with WHAT."."""
    return typer.Option(None, flag, help=f"Column with {what}.")


@contextmanager
def _fitting(file: Path, *, na_hint: bool = False) -> Iterator[None]:
    """Run the library on FILE's data: its ValueError ends the command naming the file, and
    its warnings are printed afterwards, each naming the file (``na_hint``: rma's advice to
    pass ``na_action='omit'`` is given as the option, ``--na-omit``)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except ValueError as exc:
            text = str(exc)
            fail(f"{file}: " + (text.replace("pass na_action='omit'", "use --na-omit")
                                if na_hint else text))
    for w in caught:
        typer.echo(f"warning: {file}: {w.message}", err=True)


def _robust(res: Any, summary: dict[str, Any], file: Path, data: Any, cluster: str | None,
            clubsandwich: bool, fitted: Any = None) -> Any:
    """``--cluster COL`` (``--clubsandwich``): the cluster-robust tests, also in ``summary``;
    ``fitted`` marks the rows the model kept (after ``--na-omit``)."""
    if cluster is None:
        if clubsandwich:
            fail("--clubsandwich needs --cluster COL")
        return None
    if cluster not in data.columns:
        fail(f"{file}: cluster column {cluster!r} not found")
    labels = data[cluster] if fitted is None else data[cluster][fitted]
    robust = res.robust(labels.tolist(), clubSandwich=clubsandwich)
    summary["robust"] = robust.to_dict()
    return robust


def _print_fit(res: Any, summary: dict[str, Any], robust: Any, as_json: bool) -> bool:
    """Print the fitted model (and its robust tests), or with --json the summary; True when
    that was all there is to print."""
    if as_json:
        print_json(summary)
        return True
    typer.echo(str(res))
    if robust is not None:
        typer.echo("\n" + str(robust))
    return False


def _arm_columns(data: Any, yi: str, vi: str, k: int) -> dict[str, list[str]] | None:
    """Events/total per arm for the forest plot when the table has 2x2 counts."""
    cols = set(data.columns)
    if not {"ai", "ci"} <= cols or not ({"bi", "di"} <= cols or {"n1i", "n2i"} <= cols):
        return None
    kept = data[data[[yi, vi]].notna().all(axis=1)]
    if len(kept) != k:
        return None
    n1 = kept.n1i if "n1i" in cols else kept.ai + kept.bi
    n2 = kept.n2i if "n2i" in cols else kept.ci + kept.di
    fmt = "{:g}/{:g}".format
    return {"Group 1": [fmt(a, n) for a, n in zip(kept.ai, n1, strict=True)],
            "Group 2": [fmt(c, n) for c, n in zip(kept.ci, n2, strict=True)]}


def effect_sizes_command(
    file: Path = typer.Argument(..., help="CSV/TSV/Parquet with metafor-named columns: "
                                "m1i sd1i n1i m2i sd2i n2i (SMD, MD) | ai bi ci di or ai n1i "
                                "ci n2i (OR, RR, RD) | ri ni (ZCOR, COR) | m1i sd1i m2i sd2i "
                                "ni ri (SMCC, SMCR, MC: one group measured twice) | xi ni or "
                                "xi mi (PR, PLN, PLO, PAS, PFT) | xi ti (IR, IRLN, IRS, IRFT) "
                                "| x1i t1i x2i t2i (IRR, IRD) | mi sdi ni (MN, MNLN) | "
                                "ti or ri, ni, mi (PCOR, ZPCOR) | ai mi ni (ARAW, AHW, ABT)."),
    measure: str = typer.Option(..., "--measure", "-m", help=MEASURE_HELP),
    output: Path | None = typer.Option(None, "--output", "-o",
                                       help="Write CSV or Parquet (by extension); default stdout."),
    vtype: str = typer.Option("LS", "--vtype", help="Variance type (metafor's vtype): LS, UB..."),
    add: float | None = typer.Option(None, "--add", help="Added to 2x2 cells (see --to); "
                                     "default 1/2, 0 for AS (as metafor)."),
    to: str = typer.Option("only0", "--to", help="only0 (studies with a zero cell), all, "
                           "if0all, none."),
    drop00: bool = typer.Option(False, "--drop00", help="Set studies without events in both "
                                "groups (or only events) to missing."),
) -> None:
    """Add effect sizes (yi) and sampling variances (vi) to a table of study results."""
    from attunement.evidence import escalc

    data = read_table(file)
    with _fitting(file):
        out = escalc(measure, data, vtype=vtype, add=add, to=to, drop00=drop00)
    write_table(out, output)


def meta_command(
    file: Path = typer.Argument(..., help="CSV/TSV/Parquet with one row per study."),
    yi: str = typer.Option("yi", "--yi", help="Column with the effect sizes."),
    vi: str = typer.Option("vi", "--vi", help="Column with the sampling variances."),
    sei: str | None = _column("--sei", "standard errors (instead of --vi)"),
    measure: str | None = typer.Option(None, "--measure", help="Compute yi/vi first from "
                                       "metafor-named raw columns. " + MEASURE_HELP),
    add: float | None = _with("--add", "--measure", "added to 2x2 cells (see --to); "
                              "default 1/2."),
    to: str = _with("--to", "--measure", "only0, all, if0all, none.", default="only0"),
    method: str = typer.Option("REML", "--method", help="EE/FE, DL, HE, HS, HSk, SJ, ML, REML, "
                               "EB, PM."),
    test: str = typer.Option("z", "--test", help="z or knha (Knapp-Hartung); also t, adhoc."),
    mods: str | None = typer.Option(None, "--mods", help="Moderator columns, comma separated; "
                                    "text columns are categorical (subgroups)."),
    subgroup: str | None = _column("--subgroup", "subgroup labels: separate models per "
                                   "subgroup and the test of subgroup differences (forest "
                                   "plot in blocks)"),
    slab: str | None = _column("--slab", "study labels"),
    level: float = typer.Option(95, "--level", help="Confidence level in percent."),
    forest: Path | None = _figure("--forest", "a forest plot"),
    funnel: Path | None = _figure("--funnel", "a funnel plot"),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
    na_omit: bool = typer.Option(False, "--na-omit", help="Leave out studies with missing "
                                 "values (listed on stderr) instead of stopping."),
    cluster: str | None = _column("--cluster", "cluster labels (study, centre, sample): "
                                  "cluster-robust tests as metafor's robust() (CR1, t(n - p))"),
    clubsandwich: bool = _with("--clubsandwich", "--cluster", "CR2 with Satterthwaite df and "
                               "the HTZ test (clubSandwich).", default=False),
    random: list[str] | None = typer.Option(None, "--random", help="Random-effects formula "
                                            "(repeat for several): '~ 1 | study/es', "
                                            "'~ outcome | trial'. Fits metafor's rma.mv."),
    struct: list[str] | None = typer.Option(None, "--struct", help="With an '~ inner | "
                                            "outer' term: CS (default), HCS, UN, AR, ID, DIAG "
                                            "(repeat for a second term)."),
    v_matrix: str | None = _with("--V", "--random", "a column of sampling variances, or a CSV "
                                 "file holding the full k x k covariance matrix (no header)."),
    vcalc_spec: str | None = _with("--vcalc", "--random", "build V as metafor's vcalc from "
                                   "--vi, e.g. 'cluster=study,obs=esid,rho=0.6' or "
                                   "'cluster=study,time1=time,phi=0.9'."),
    tau2: float | None = typer.Option(None, "--tau2", help="Fix tau^2 at this value instead "
                                      "of estimating it."),
    weights: str | None = _column("--weights", "the weights (instead of inverse-variance "
                                  "weights)"),
    btt: str | None = typer.Option(None, "--btt", help="Coefficients in the test of "
                                   "moderators, numbered as metafor prints them (1 = "
                                   "intercept), comma separated, e.g. 2,3."),
    leave1out: bool = _also("--leave1out", "fit the model leaving out each study in turn"),
    influence: bool = _also("--influence", "print influence diagnostics (metafor's influence())"),
    cumul: bool = _also("--cumul", "print a cumulative meta-analysis in file order"),
    trimfill_: bool = _also("--trimfill", "run trim-and-fill"),
    fsn_type: str | None = typer.Option(None, "--fsn", help="Also compute the fail-safe N: "
                                        "Rosenthal, Orwin or Rosenberg."),
    mh: bool = typer.Option(False, "--mh", help="Mantel-Haenszel pooling of the 2x2 tables "
                            "(columns ai bi ci di, or ai n1i ci n2i) for --measure OR, RR "
                            "or RD, as metafor's rma.mh."),
    permutest_n: int | None = typer.Option(None, "--permutest", help="Also run a permutation "
                                           "test with N permutations (exact when N covers "
                                           "them all), as metafor's permutest."),
    seed: int | None = typer.Option(None, "--seed", help="Seed for --permutest."),
    profile: bool = _also("--profile", "print the profile log-likelihood of tau^2 "
                          "(metafor's profile)"),
    blup_: bool = _also("--blup", "print the BLUPs of the study effects (metafor's blup)"),
    vif_: bool = _also("--vif", "print variance inflation factors of the moderators "
                       "(metafor's vif)"),
    baujat: Path | None = _figure("--baujat", "a Baujat plot"),
    gosh_file: Path | None = _figure("--gosh", "a GOSH plot", "all subsets up to 100000, "
                                     "else a seeded random 100000; --seed"),
    radial: Path | None = _figure("--radial", "a radial (Galbraith) plot",
                                  "models without moderators"),
    selmodel_type: str | None = typer.Option(None, "--selmodel", help="Also fit a selection "
                                             "model: step (needs --steps) or beta, as metafor's "
                                             "selmodel (ML)."),
    steps: str | None = _with("--steps", "--selmodel step", "one-sided p-value cut points, "
                              "comma separated (e.g. 0.025,1)."),
    hc_: bool = _also("--hc", "print the Henmi-Copas CI (models without moderators), as "
                      "metafor's hc"),
    scale: str | None = typer.Option(None, "--scale", help="Location-scale model, as "
                                     "metafor's rma(..., scale = ~ z): log tau^2 linear in "
                                     "these moderators, a formula ('~ ni', '~ factor(grade)') "
                                     "or columns, comma separated (REML or ML)."),
) -> None:
    """Pool effect sizes with a (mixed-effects) meta-analytic model, as metafor's rma()
    (rma.mv with --random, rma.mh with --mh)."""
    import pandas as pd

    from attunement.evidence import escalc, rma, subgroup_analysis

    data = read_table(file)
    fit_extras = any(x is not None for x in (
        subgroup, tau2, weights, forest, funnel, fsn_type, permutest_n, baujat, gosh_file,
        radial, selmodel_type)) or leave1out or influence or cumul or trimfill_ or profile \
        or blup_ or vif_ or hc_
    if scale is not None and (fit_extras or mh or random or cluster is not None):
        fail("with --scale (a location-scale model) use --mods, --method (REML, ML), --test, "
             "--btt, --level, --slab, --na-omit, --measure and --json")
    if mh:
        _meta_mh(file, data, measure, level, as_json)
        return
    if measure is not None:
        with _fitting(file):
            data = escalc(measure, data, add=add, to=to)
    elif add is not None or to != "only0":
        fail("--add and --to apply with --measure")
    btt_idx = _btt(btt)
    if random:
        if fit_extras or na_omit:
            fail("with --random (rma.mv) use --mods, --struct, --V/--vcalc, --method "
                 "(REML, ML), --test (z, t), --btt, --cluster/--clubsandwich and --json")
        _meta_mv(file, data, yi, vi, v_matrix, vcalc_spec, random, struct or ["CS"], mods,
                 method, test, btt_idx, level, cluster, clubsandwich, as_json)
        return
    if struct or v_matrix or vcalc_spec:
        fail("--struct, --V and --vcalc apply with --random")
    needed = [yi] + ([sei] if sei else [vi])
    missing = [c for c in needed if c not in data.columns]
    if missing:
        fail(f"{file}: column(s) {', '.join(missing)} not found (columns: "
             f"{', '.join(map(str, data.columns))}); use --yi/--vi or --measure")
    mod_cols = [m.strip() for m in mods.split(",") if m.strip()] if mods else None
    if slab is None:
        for candidate in ("study", "author", "authors", "trial", "source"):
            if candidate in data.columns:
                slab = candidate
                break
    if scale is not None:
        _meta_ls(file, data, yi, vi, sei, mod_cols, scale, method, test, btt_idx, level, slab,
                 na_omit, as_json)
        return
    with _fitting(file, na_hint=True):
        if weights is not None and weights not in data.columns:
            fail(f"{file}: weights column {weights!r} not found")
        res = rma(yi, None if sei else vi, sei=sei, data=data, mods=mod_cols, method=method,
                  test=test, level=level, slab=slab, tau2=tau2,
                  weights=weights, btt=btt_idx,
                  na_action="omit" if na_omit else "fail")
        summary = res.to_dict()
        tables = _diagnostics(res, leave1out, influence, cumul)
        tables.update(_more_diagnostics(res, permutest_n, seed, profile, blup_, vif_))
        if hc_:
            summary["hc"] = res.hc().to_dict()
            tables["Henmi-Copas"] = pd.DataFrame([summary["hc"]])
        if selmodel_type is not None or steps is not None:
            summary["selmodel"] = _selmodel(res, selmodel_type, steps)
            sel = summary["selmodel"]
            tables["selection model (ML)"] = pd.DataFrame(
                {k: sel[k] for k in ("delta", "se_delta")},
                index=[f"p <= {s:g}" for s in sel["steps"]] or ["delta1", "delta2"])
        for key, table in tables.items():
            summary[key] = json.loads(table.to_json(orient="records"))
        if trimfill_:
            tf = res.trimfill()
            summary["trimfill"] = tf.to_dict()
            tables["trim-and-fill"] = tf
        if fsn_type is not None:
            from attunement.evidence import fsn

            fs = fsn(res.yi, res.vi, type=fsn_type)
            summary["fsn"] = fs.to_dict()
            tables["fail-safe N"] = fs
        groups = None
        if subgroup is not None:
            if mod_cols:
                fail("use either --mods or --subgroup (a subgroup is a categorical "
                     "moderator; --mods COL fits it as a meta-regression)")
            if subgroup not in data.columns:
                fail(f"{file}: subgroup column {subgroup!r} not found")
            groups = data[subgroup]
            if na_omit:
                groups = groups[data[[yi, sei or vi]].notna().all(axis=1)]
            table, test = subgroup_analysis(res, groups.tolist())
            summary["subgroups"] = {
                str(r["subgroup"]): {key: (None if pd.isna(val) else
                                           (int(val) if key == "k" else float(val)))
                                     for key, val in r.items() if key != "subgroup"}
                for r in table.to_dict("records")
            }
            summary["subgroup_test"] = test
        fitted = data[[yi, sei or vi]].notna().all(axis=1) if na_omit else None
        robust_res = _robust(res, summary, file, data, cluster, clubsandwich, fitted)
    if baujat is not None or gosh_file is not None or radial is not None:
        _more_plots(res, baujat, gosh_file, radial, seed)
    if forest is not None or funnel is not None:
        from attunement.evidence.plots import forest_plot, funnel_plot

        try:
            if forest is not None:
                if not res.int_only:
                    fail("--forest draws models without moderators; for subgroups use "
                         "--subgroup COL")
                forest_plot(res, path=forest, subgroup=None if groups is None else
                            groups.tolist(), transf=_forest_transf(res, data, yi, sei or vi),
                            columns=_arm_columns(data, yi, sei or vi, res.k))
            if funnel is not None:
                funnel_plot(res, path=funnel)
        except ValueError as exc:
            fail(str(exc))
    if _print_fit(res, summary, robust_res, as_json):
        return
    if "subgroups" in summary:
        typer.echo("\nSubgroups (separate models, same tau^2 estimator):")
        for name, row in summary["subgroups"].items():
            typer.echo(f"  {name:<20} k = {row['k']:<4d} estimate = {row['estimate']:.4f} "
                       f"[{row['ci_lb']:.4f}, {row['ci_ub']:.4f}]"
                       + (f", I^2 = {row['I2']:.1f}%" if row.get("I2") is not None else ""))
        t = summary["subgroup_test"]
        if t:
            typer.echo(f"Test for subgroup differences (common tau^2): QM(df = {t['df']}) = "
                       f"{t['QM']:.4f}, p = {t['pval']:.4g}")
    extra = []
    if res.measure in {"OR", "RR", "PETO", "IRR"} and res.int_only:
        import math

        name = {"OR": "odds ratio", "RR": "risk ratio", "PETO": "odds ratio (Peto)",
                "IRR": "incidence rate ratio"}
        line = (f"Pooled {name[res.measure]} (exp of the log estimate): "
                f"{math.exp(summary['estimate']):.4f} [{math.exp(summary['ci_lb']):.4f}, "
                f"{math.exp(summary['ci_ub']):.4f}]")
        if summary.get("pi_lb") is not None:
            line += (f", prediction interval {math.exp(summary['pi_lb']):.4f} to "
                     f"{math.exp(summary['pi_ub']):.4f}")
        extra.append(line)
    if res.measure in _BACK_TRANSFORMED and res.int_only:
        extra.append(_back_transformed_line(res, data, yi, sei or vi))
    if summary.get("tau2_ci_lb") is not None:
        extra.append(f"tau^2 95% CI (Q-profile): {summary['tau2_ci_lb']:.4f} to "
                     f"{summary['tau2_ci_ub']:.4f}")
    if summary.get("egger_z") is not None:
        # under Knapp-Hartung (and test="t") the statistic is a t with egger_df df
        df = summary.get("egger_df")
        stat = "z" if df is None else f"t(df = {df})"
        extra.append(f"Egger's test (regression on SE, same tau^2 method): "
                     f"{stat} = {summary['egger_z']:.4f}, p = {summary['egger_p']:.4f}")
    if extra:
        typer.echo("\n" + "\n".join(extra))
    for name, table in tables.items():
        text = (table.to_string(float_format=lambda v: f"{v:.4f}")
                if isinstance(table, pd.DataFrame) else str(table))
        typer.echo(f"\n{name}:\n{text}")
    for path in (forest, funnel, baujat, gosh_file, radial):
        if path is not None:
            typer.echo(f"wrote {path}")


def _more_diagnostics(res: Any, permutest_n: int | None, seed: int | None, profile: bool,
                      blup_: bool, vif_: bool) -> dict[str, Any]:
    """Tables for --permutest, --profile, --blup and --vif (they also go into --json)."""
    import pandas as pd

    out: dict[str, Any] = {}
    if permutest_n is not None:
        pt = res.permutest(iter=permutest_n, seed=seed)
        kind = "exact" if pt.exact else f"approximate, seed {seed}"
        table = pd.DataFrame({"coef": pt.coef_names, "pval": pt.pval})
        table.loc[len(table)] = ["QM (omnibus)", pt.QMp]
        out[f"permutation test ({pt.iter} permutations, {kind})"] = table
    if profile:
        out["profile log-likelihood of tau^2"] = res.profile()
    if blup_:
        out["BLUPs"] = res.blup().reset_index(names="study")
    if vif_:
        out["variance inflation factors"] = res.vif()
    return out


def _more_plots(res: Any, baujat: Path | None, gosh_file: Path | None, radial: Path | None,
                seed: int | None) -> None:
    """Write the --baujat, --gosh and --radial figures (an error names the file and why)."""
    from attunement.evidence import plots_more

    for path in (baujat, gosh_file, radial):
        if path is not None and path.suffix.lower() not in {".png", ".svg", ".pdf"}:
            fail(f"{path}: figures can be written as .png, .svg or .pdf")
    try:
        figs = []
        if baujat is not None:
            figs.append((plots_more.baujat_plot(res), baujat))
        if gosh_file is not None:
            figs.append((plots_more.gosh_plot(plots_more.gosh(res, seed=seed)), gosh_file))
        if radial is not None:
            figs.append((plots_more.radial_plot(res), radial))
    except ValueError as exc:
        fail(str(exc))
    for fig, path in figs:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=150, bbox_inches="tight", facecolor="white")


def _selmodel(res: Any, kind: str | None, steps: str | None) -> dict[str, Any]:
    """--selmodel step --steps a,b,... or --selmodel beta: the selection model's numbers."""
    if kind == "beta":
        if steps is not None:
            fail("--steps applies to --selmodel step, not beta")
        return res.selmodel(type="beta").to_dict()
    if kind != "step":
        fail("--selmodel: choose step (with --steps) or beta")
    if not steps:
        fail("--selmodel step needs --steps, e.g. --steps 0.025,1")
    try:
        cuts = [float(x) for x in steps.split(",") if x.strip()]
    except ValueError:
        fail(f"--steps: {steps!r} is not a comma-separated list of numbers")
    return res.selmodel(cuts).to_dict()


def _btt(text: str | None) -> list[int] | None:
    """metafor-numbered coefficients (1 = the first) to 0-based indices."""
    if text is None:
        return None
    try:
        nums = [int(t) for t in text.replace(":", ",").split(",") if t.strip()]
    except ValueError:
        fail(f"--btt takes coefficient numbers such as 2,3, not {text!r}")
    if not nums or min(nums) < 1:
        fail(f"--btt numbers start at 1 (the first coefficient), not {text!r}")
    return [n - 1 for n in nums]


def _diagnostics(res: Any, leave1out: bool, influence: bool, cumul: bool) -> dict[str, Any]:
    """The requested per-study tables (metafor's leave1out, influence, cumul)."""
    out: dict[str, Any] = {}
    if leave1out:
        out["leave1out"] = res.leave1out()
    if influence:
        out["influence"] = res.influence()
    if cumul:
        out["cumul"] = res.cumul()
    return out


def _meta_mh(file: Path, data: Any, measure: str | None, level: float, as_json: bool) -> None:
    """Mantel-Haenszel pooling (metafor's rma.mh) of the file's 2x2 tables."""
    from attunement.evidence import rma_mh

    measure = measure or "OR"
    if measure not in {"OR", "RR", "RD"}:
        fail("--mh pools OR, RR or RD (--measure)")
    cols = {c: c for c in ("ai", "bi", "ci", "di", "n1i", "n2i") if c in data.columns}
    try:
        res = rma_mh(data, measure=measure, level=level, **cols)
    except ValueError as exc:
        fail(f"{file}: {exc}")
    if as_json:
        print_json(res.to_dict())
    else:
        typer.echo(str(res))


def _parse_vcalc(spec: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in {"cluster", "obs", "type", "time1", "rho", "phi", "subgroup"}:
            fail(f"--vcalc takes cluster=, obs=, type=, time1=, subgroup=, rho=, phi=; "
                 f"not {part.strip()!r}")
        if key in {"rho", "phi"}:
            try:
                out[key] = float(value)
            except ValueError:
                fail(f"--vcalc {key} must be a number, not {value!r}")
        else:
            out[key] = value
    if "cluster" not in out:
        fail("--vcalc needs cluster=COLUMN")
    return out


def _meta_ls(file: Path, data: Any, yi: str, vi: str, sei: str | None, mods: list[str] | None,
             scale: str, method: str, test: str, btt: list[int] | None, level: float,
             slab: str | None, na_omit: bool, as_json: bool) -> None:
    """``meta --scale``: metafor's location-scale model, ``rma(..., scale = ~ z)``."""
    from attunement.evidence import rma

    z = scale if scale.strip().startswith("~") else [
        c.strip() for c in scale.split(",") if c.strip()]
    with _fitting(file, na_hint=True):
        res = rma(yi, None if sei else vi, sei=sei, data=data, mods=mods, scale=z,
                  method=method, test=test, level=level, slab=slab, btt=btt,
                  na_action="omit" if na_omit else "fail")
    if as_json:
        print_json(res.to_dict())
    else:
        typer.echo(str(res))


def _meta_mv(file: Path, data: Any, yi: str, vi: str, v_matrix: str | None,
             vcalc_spec: str | None, random: list[str], struct: list[str], mods: str | None,
             method: str, test: str, btt: list[int] | None, level: float,
             cluster: str | None, clubsandwich: bool, as_json: bool) -> None:
    """``meta --random``: metafor's rma.mv (and robust() with --cluster)."""
    import numpy as np

    from attunement.evidence import rma_mv, vcalc

    if yi not in data.columns:
        fail(f"{file}: column {yi!r} not found (columns: {', '.join(map(str, data.columns))})")
    V: Any = vi
    with _fitting(file):
        if v_matrix is not None and vcalc_spec is not None:
            fail("use either --V or --vcalc")
        if vcalc_spec is not None:
            V = vcalc(vi, data=data, **_parse_vcalc(vcalc_spec))
        elif v_matrix is not None:
            if v_matrix in data.columns:
                V = v_matrix
            else:
                path = Path(v_matrix)
                if not path.exists():
                    fail(f"--V {v_matrix}: neither a column of {file} nor a file")
                try:
                    V = np.loadtxt(path, delimiter=",", ndmin=2)
                except ValueError as exc:
                    fail(f"{path}: cannot read the covariance matrix ({exc})")
        model_mods: Any = None
        if mods:
            model_mods = mods if mods.strip().startswith("~") else \
                [m.strip() for m in mods.split(",") if m.strip()]
        res = rma_mv(yi, V, data=data, random=random if len(random) > 1 else random[0],
                     struct=struct if len(struct) > 1 else struct[0], mods=model_mods,
                     method=method, test=test, btt=btt, level=level)
        summary = res.to_dict()
        rob = _robust(res, summary, file, data, cluster, clubsandwich)
    _print_fit(res, summary, rob, as_json)


def _forest_transf(res: Any, data: Any, yi: str, vi: str) -> Any:
    """Ratios on a log axis; proportions and rates on their own scale (metafor's transf)."""
    if res.measure in {"OR", "RR", "PETO", "IRR", "PLN", "IRLN"}:
        return "exp"
    if res.measure in _BACK_TRANSFORMED:
        from attunement.evidence.transf import back_transform

        ni, ti = _sizes(data[data[[yi, vi]].notna().all(axis=1)])
        try:
            return back_transform(res.measure, ni=ni, ti=ti)
        except ValueError:
            return None
    return None


def _sizes(kept: Any) -> tuple[Any, Any]:
    """Sample sizes (ni, or xi + mi) and person-times (ti) of the pooled studies, if given."""
    cols = set(kept.columns)
    ni = kept["ni"] if "ni" in cols else (kept["xi"] + kept["mi"] if {"xi", "mi"} <= cols
                                          else None)
    return ni, kept["ti"] if "ti" in cols else None


def _back_transformed_line(res: Any, data: Any, yi: str, vi: str) -> str:
    """The pooled proportion or rate on the data scale, as metafor's ``predict(fit, transf=)``
    (Freeman-Tukey with the harmonic mean of the pooled studies' ni, or their mean ti)."""
    from attunement.evidence.transf import back_transform

    ni, ti = _sizes(data[data[[yi, vi]].notna().all(axis=1)])
    try:
        f = back_transform(res.measure, ni=ni, ti=ti)
    except ValueError as exc:
        return f"(no back-transformed estimate: {exc})"
    pr = res.predict(transf=f).iloc[0]
    line = (f"Pooled {_BACK_TRANSFORMED[res.measure]} (back-transformed): {pr.pred:.4f} "
            f"[{pr.ci_lb:.4f}, {pr.ci_ub:.4f}]")
    if not res.is_fixed:
        line += f", prediction interval {pr.pi_lb:.4f} to {pr.pi_ub:.4f}"
    return line


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.command("effect-sizes", rich_help_panel=LIBRARY_PANEL)(effect_sizes_command)
    app.command("meta", rich_help_panel=LIBRARY_PANEL)(meta_command)
