"""CLI commands for the trials area: ``attunement trials fit|allocate|consort`` and ``attunement power``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from attunement.cli._common import LIBRARY_PANEL, fail, print_json, read_table, write_table

trials_app = typer.Typer(
    help="Multicentre trials: randomisation, mixed-model analysis, CONSORT.",
    no_args_is_help=True,
)


@trials_app.command("fit")
def fit(
    data: Path = typer.Argument(..., help="CSV with one row per observation."),
    formula: str = typer.Option(..., "--formula", "-f",
                                help='lme4-style formula, e.g. "y ~ arm * wave + (1 | centre) + '
                                     '(1 | family)"; for binomial also cbind(s, n - s) ~ ..., '
                                     'and offset(log(exposure)) terms.'),
    family: str = typer.Option("gaussian", "--family",
                               help="gaussian (linear mixed model), binomial or poisson (GLMM)."),
    link: str | None = typer.Option(None, "--link",
                                    help="GLMM link: logit (default) or probit for binomial, "
                                         "log for poisson."),
    nagq: int = typer.Option(1, "--nagq", help="GLMM: 1 = Laplace; more = adaptive "
                                               "Gauss-Hermite nodes (one (1 | g) term)."),
    weights: str | None = typer.Option(None, "--weights",
                                       help="Column of prior weights: gaussian, residual "
                                            "variance sigma^2/w (lmer's weights); binomial, "
                                            "trials for a proportion response; poisson, as "
                                            "glmer. Each must be positive."),
    contrasts: list[str] = typer.Option([], "--contrasts",
                                        help="Coding of a factor, COLUMN=sum|helmert|treatment "
                                             "(R's contr.sum, contr.helmert; repeat for "
                                             "several); default treatment."),
    reml: bool = typer.Option(True, "--reml/--ml", help="REML (default) or maximum likelihood."),
    df: str = typer.Option("satterthwaite", "--df",
                           help="Denominator df: satterthwaite, kenward-roger, between-within "
                                "or residual."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a summary."),
) -> None:
    """Fit a linear mixed model (lme4's profiled REML/ML) or a binomial/Poisson GLMM (glmer's
    Laplace or adaptive Gauss-Hermite) and print lme4-style results."""
    from attunement.trials.formula import FormulaError

    if family not in {"gaussian", "binomial", "poisson"}:
        fail(f"--family must be gaussian, binomial or poisson, not {family!r}")
    if family == "gaussian" and (link is not None or nagq != 1):
        fail("--link and --nagq are for --family binomial or poisson")
    coding: dict[str, str] = {}
    for item in contrasts:
        column, sep, kind = item.partition("=")
        if not sep or not column.strip() or not kind.strip():
            fail(f"--contrasts takes COLUMN=sum|helmert|treatment, not {item!r}")
        coding[column.strip()] = kind.strip()
    frame = read_table(data)
    try:
        if family == "gaussian":
            from attunement.trials.lmm import fit_lmm

            result = fit_lmm(formula, frame, reml=reml, df_method=df, weights=weights,
                             contrasts=coding)
        else:
            from attunement.trials.glmm import fit_glmm

            result = fit_glmm(formula, frame, family, link, nagq, weights=weights,
                              contrasts=coding)
    except (FormulaError, ValueError) as e:
        fail(f"{data}: {e}")
    if as_json:
        print_json(result.to_dict())
    else:
        typer.echo(str(result))


@trials_app.command("allocate")
def allocate(
    participants: Path = typer.Argument(..., help="CSV, one row per participant in enrolment "
                                                  "order, with the design's strata/factors."),
    design: Path = typer.Option(..., "--design", help="Design YAML (method, arms, ratio, "
                                                      "block_sizes/strata or factors/weights/p)."),
    seed: str | None = typer.Option(None, "--seed", help="Secret seed. Without it a new 256-bit "
                                                         "secret is written to OUTPUT.seed."),
    output: Path | None = typer.Option(None, "--output", "-o",
                                       help="Write the CSV with 'arm' here (default: stdout)."),
    id_column: str | None = typer.Option(None, "--id-column",
                                         help="Participant id column (default: row number)."),
    log: Path | None = typer.Option(None, "--log", help="Write the allocation records "
                                                        "(inputs, draws, algorithm) as JSON lines."),
    actor: str | None = typer.Option(None, "--actor", help="Who is randomising (recorded)."),
) -> None:
    """Randomise participants (stratified permuted blocks or minimisation); print balance."""
    import os

    from rich.console import Console
    from rich.table import Table

    from attunement.trials.randomisation import (
        DesignError,
        RandomisationDesign,
        allocate_participants,
        balance_report,
        new_secret,
    )

    try:
        spec = RandomisationDesign.from_yaml(design)
    except DesignError as e:
        fail(str(e))
    frame = read_table(participants)
    if seed is None:
        if output is None:
            fail("give --seed, or --output so that a new secret seed can be stored in "
                 "OUTPUT.seed for the independent statistician")
        seed = new_secret()
        seed_path = output.with_name(output.name + ".seed")
        fd = os.open(seed_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(seed + "\n")
    try:
        out, records = allocate_participants(spec, frame, seed, id_column=id_column, actor=actor,
                                             source=str(participants))
    except DesignError as e:
        fail(str(e))
    write_table(out, output)
    if log is not None:
        with log.open("w") as fh:
            for rec in records:
                fh.write(json.dumps(rec.to_dict()) + "\n")
    console = Console(stderr=output is None)
    report = balance_report(spec, out)
    table = Table(title=f"Balance ({spec.method}, ratio {':'.join(map(str, spec.ratio))})")
    for col in ("group", "level", "n", *spec.arms, "max_imbalance"):
        table.add_column(str(col), justify="left" if col in ("group", "level") else "right")
    for row in report.itertuples(index=False):
        table.add_row(*[f"{v:g}" if isinstance(v, float) else str(v) for v in row])
    console.print(table)
    if output is not None:
        console.print(f"{len(out)} participants allocated → {output}")


@trials_app.command("subgroups")
def subgroups(
    data: Path = typer.Argument(..., help="CSV with one row per observation (ITT: every "
                                          "randomised family in its allocated arm)."),
    outcome: str = typer.Option(..., "--outcome", help="Outcome column."),
    subgroup: list[str] = typer.Option(..., "--subgroup",
                                       help="Subgroup column (repeat for several), e.g. smi."),
    arm: str = typer.Option("arm", "--arm", help="Arm column."),
    time: str | None = typer.Option("wave", "--time", help="Time column ('' for one wave)."),
    random: str = typer.Option("(1 | centre) + (1 | family)", "--random",
                               help="Random-effects part of the model."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """ITT summary and subgroup (moderator) analyses with the interaction test."""
    from attunement.trials.analysis import itt_summary, subgroup_analysis
    from attunement.trials.formula import FormulaError

    frame = read_table(data)
    time = time or None
    out: dict[str, Any] = {}
    try:
        out["itt"] = itt_summary(frame, outcome, arm, time,
                                 "family" if "family" in frame.columns else None)
        for sg in subgroup:
            effects, test, _ = subgroup_analysis(frame, outcome, sg, arm, time, random)
            out[sg] = (effects, test)
    except (FormulaError, ValueError, KeyError) as e:
        fail(f"{data}: {e}")
    if as_json:
        payload = {"itt": out["itt"].to_dict(orient="records")}
        for sg in subgroup:
            effects, test = out[sg]
            payload[sg] = {"effects": effects.to_dict(orient="records"),
                           "interaction": test.to_dict(orient="records")[0]}
        print_json(payload)
        return
    typer.echo("Intention-to-treat summary (observed data by allocated arm)")
    typer.echo(out["itt"].to_string(index=False))
    for sg in subgroup:
        effects, test = out[sg]
        typer.echo(f"\nArm effect by {sg} (linear mixed model, Satterthwaite df)")
        typer.echo(effects.drop(columns=["subgroup"]).to_string(index=False))
        t = test.iloc[0]
        typer.echo(f"interaction test ({t['terms']}): F({t['df1']:g}, {t['df2']:.1f}) = "
                   f"{t['F']:.3f}, p = {t['p']:.3g}")


@trials_app.command("consort")
def consort(
    records: Path = typer.Argument(..., help="CSV of participant records (see "
                                             "attunement.trials.consort for the columns)."),
    output: Path = typer.Option(..., "--output", "-o",
                                help="Output file (.svg or .png); both are written when the "
                                     "suffix is omitted."),
    arms: str | None = typer.Option(None, "--arms", help="Comma-separated arm order."),
) -> None:
    """Draw the CONSORT 2010 flow diagram from participant records."""
    from attunement.trials.consort import ConsortError, consort_counts, draw_consort

    frame = read_table(records)
    try:
        counts = consort_counts(frame, arms=arms.split(",") if arms else None,
                                source=str(records))
    except ConsortError as e:
        fail(str(e))
    written = draw_consort(counts, output)
    for p in written:
        typer.echo(f"wrote {p}")


_POWER_KEYS = ("n_per_arm", "centres", "waves", "effect_size", "icc_centre", "icc_family",
               "attrition", "outcome", "analysis")


def power(
    n_per_arm: int | None = typer.Option(None, "--n-per-arm", help="Families per arm."),
    centres: int | None = typer.Option(None, "--centres", help="Number of centres K."),
    waves: int | None = typer.Option(None, "--waves", help="Waves (measurements) T."),
    effect_size: float | None = typer.Option(None, "--effect-size",
                                             help="D: standardised difference at the last wave."),
    icc_centre: float | None = typer.Option(None, "--icc-centre", help="Centre ICC."),
    icc_family: float | None = typer.Option(None, "--icc-family", help="Family ICC."),
    attrition: float | None = typer.Option(None, "--attrition",
                                           help="Proportion lost by the last wave."),
    outcome: str | None = typer.Option(None, "--outcome",
                                       help="continuous, binary or count (count: give "
                                            "rate_control and rate_ratio in --design)."),
    analysis: str | None = typer.Option(None, "--analysis",
                                        help="Binary outcome: gee (default) or glmm (logistic "
                                             "GLMM by Laplace, as lme4's glmer)."),
    sims: int | None = typer.Option(None, "--sims", help="Simulated trials (default 1000)."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (reproducible runs)."),
    design: Path | None = typer.Option(None, "--design",
                                       help="YAML with the same keys (and more: times, effect, "
                                            "arms, subgroup_prevalence, subgroup_effect, test, "
                                            "p_control, odds_ratio, rate_control, rate_ratio, "
                                            "analysis, attrition_mechanism, ...)."),
    curve: str | None = typer.Option(None, "--curve",
                                     help="Comma-separated families per arm for a power curve."),
    scheduler: str | None = typer.Option(None, "--scheduler",
                                         help="Dask distributed scheduler address."),
    workers: int = typer.Option(1, "--workers", min=1,
                                help="Local processes running simulation chunks in parallel "
                                     "(each with ATTUNEMENT_BLAS_THREADS BLAS threads, "
                                     "default 1)."),
    as_json: bool = typer.Option(False, "--json", help='Print {"power","ci_lb","ci_ub","sims"}.'),
) -> None:
    """Power of a multicentre longitudinal trial by simulation (LMM / GEE / GLMM analysis)."""
    from attunement.trials.power import TrialDesign, TrialDesignError, power_curve, run_power

    spec: dict[str, Any] = {}
    if design is not None:
        import yaml

        if not design.exists():
            fail(f"{design}: file not found")
        try:
            spec = yaml.safe_load(design.read_text()) or {}
        except yaml.YAMLError as e:
            fail(f"{design}: not valid YAML ({e})")
        if not isinstance(spec, dict):
            fail(f"{design}: expected a mapping of design keys")
    given = dict(zip(_POWER_KEYS, (n_per_arm, centres, waves, effect_size, icc_centre,
                                   icc_family, attrition, outcome, analysis), strict=True))
    spec |= {k: v for k, v in given.items() if v is not None}
    n_sims = sims if sims is not None else int(spec.get("sims", 1000))
    the_seed = seed if seed is not None else spec.get("seed")
    n_values = [int(x) for x in curve.split(",")] if curve else spec.get("n_values")
    try:
        trial = TrialDesign.from_dict(spec, source=str(design) if design else "options")
        if n_sims < 1:
            raise TrialDesignError("'sims' must be at least 1")
    except TrialDesignError as e:
        fail(str(e))
    total = n_sims * (len(n_values) if n_values else 1)

    def run(progress=None):
        if n_values:
            return power_curve(trial, n_values, n_sims, the_seed, scheduler, progress=progress,
                               workers=workers)
        return run_power(trial, n_sims, the_seed, scheduler, progress=progress, workers=workers)

    if as_json:
        res = run()
        if n_values:
            print_json(res.to_dict(orient="records"), indent=None)
        else:
            print_json(res.to_dict(), indent=None)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    console = Console()
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("simulating trials", total=total)
        res = run(lambda done: bar.update(task, completed=done))
    if trial.outcome == "binary" and trial.analysis == "glmm":
        console.print(f"Planned model: {trial.formula} (logistic GLMM)")
    elif trial.outcome == "binary":
        cluster = ("family" if trial.waves > 1 else "centre") if (
            trial.waves > 1 or trial.centres > 1) else None
        fixed_part = trial.formula.split(" + (1 |")[0]
        console.print(f"Planned model: {fixed_part} (logistic"
                      + (f", population-averaged, clustered by {cluster})" if cluster else ")"))
    else:
        console.print(f"Planned model: {trial.formula}")
    if n_values:
        console.print(res.to_string(index=False))
        return
    console.print(f"Analysis: {res.method}")
    console.print(res.summary().to_string(index=False))
    console.print(f"power {res.power:.3f} (95% CI {res.ci_lb:.3f}–{res.ci_ub:.3f}, "
                  f"Monte Carlo SE {res.mc_se:.3f}) from {res.sims} simulated trials; "
                  f"{res.failed} failed fits, {res.boundary} with centre variance at 0")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.add_typer(trials_app, name="trials", rich_help_panel=LIBRARY_PANEL)
    app.command("power", rich_help_panel=LIBRARY_PANEL)(power)
