"""CLI commands for the observe area: ``attunement observe metrics|agreement|convert|report``."""

from __future__ import annotations

from pathlib import Path

import typer

from attunement.cli._common import LIBRARY_PANEL, fail, write_table

observe_app = typer.Typer(
    help="Coded parent–infant interaction: sensitivity measures, agreement, conversion, reports.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.add_typer(observe_app, name="observe", rich_help_panel=LIBRARY_PANEL)


def _split(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _window(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise typer.BadParameter("window must be 'LO,HI' in seconds, e.g. 0,5") from None
    if hi <= lo or lo < 0:
        raise typer.BadParameter("window needs 0 ≤ LO < HI")
    return lo, hi


def _interval(text: str | None) -> tuple[float, float] | None:
    if not text:
        return None
    from attunement.observation.events import parse_interval

    try:
        return parse_interval(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _print_warnings(caught) -> None:
    from rich.console import Console

    console = Console(stderr=True)
    for w in caught:
        console.print(f"[yellow]warning:[/yellow] {w.message}", markup=True, highlight=False,
                      soft_wrap=True)


ACTORS_HELP = ("Where the actor is read: subject, code (each code's actor in the scheme; without "
               "a scheme the cues are the infant's, the responses a caregiver's), tier, "
               "participant or column. Default: the actor the importer gives.")
INTERVAL_HELP = ("Coded interval START,END in seconds for every session (default: the file's, "
                 "else the first coded onset to the last coded offset).")


TIER_HELP = ("ELAN: read only this tier (repeat for several); its Symbolic_Association tiers "
             "still give modifiers. Default: every tier.")
INFANT_HELP = ("The infant's name(s) in the subject/tier/participant/column (as --actors-from "
               "reads them), comma-separated.")
# the options every reading of coded files shares
INTERVAL_OPTION = typer.Option(None, "--interval", help=INTERVAL_HELP)
ACTORS_OPTION = typer.Option(None, "--actors-from", help=ACTORS_HELP)
TIER_OPTION = typer.Option(None, "--tier", help=TIER_HELP)
INFANT_OPTION = typer.Option(None, "--infant", help=INFANT_HELP)


def _load(files: list[Path], scheme_path: Path | None, lenient: bool, fmt: str = "auto", *,
          actors_from: str | None = None, infant: list[str] | None = None,
          tiers: list[str] | None = None):
    import dataclasses

    import pandas as pd

    from attunement.observation import load_scheme, read_events, validate_events

    scheme = load_scheme(scheme_path) if scheme_path else None
    if scheme is not None and (actors_from or infant):
        # the flags override the scheme, for validation as for the measures
        scheme = dataclasses.replace(scheme, actors_from=actors_from or scheme.actors_from,
                                     infant=tuple(infant) if infant else scheme.infant)
    from attunement.observation import ObservationError

    frames, repairs = [], []
    seen: dict[str, Path] = {}
    for f in files:
        if tiers:
            from attunement.observation.importers import detect_format

            kind = detect_format(f) if fmt == "auto" else fmt
            if kind != "elan":
                raise ObservationError(f"--tier selects ELAN tiers; this is a {kind} file",
                                       source=str(f))
        ev = read_events(f, format=fmt, **({"tiers": tiers} if tiers else {}))
        for s in dict.fromkeys(ev["session"]):
            if s in seen:
                raise ObservationError(f"session {s!r} is also in {seen[s]}; session ids must be "
                                       "unique across the files analysed together", source=str(f))
            seen[s] = f
        res = validate_events(ev, scheme, mode="lenient" if lenient else "strict")
        frames.append(res.events)
        repairs.append(res.repairs)
    events = pd.concat(frames, ignore_index=True) if frames else None
    rep = pd.concat(repairs, ignore_index=True) if repairs else None
    return events, scheme, rep


def _show_table(df, output: Path | None, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    if output is not None:
        write_table(df, output)
        Console(stderr=True).print(f"wrote {len(df)} rows to {output}")
        return
    console = Console()
    cells = [[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row]
             for row in df.itertuples(index=False)]
    widths = [max([len(str(c))] + [len(r[i]) for r in cells]) for i, c in enumerate(df.columns)]
    if sum(w + 3 for w in widths) + 1 <= console.width:
        table = Table(title=title)
        for c in df.columns:
            table.add_column(str(c))
        for row in cells:
            table.add_row(*row)
        console.print(table)
        return
    # too wide for the terminal: one block of "measure  value" lines per row, nothing cut
    console.print(f"[bold]{title}[/bold] ({len(cells)} rows; --output FILE for a table)",
                  highlight=False)
    for n, row in enumerate(cells, start=1):
        block = Table(title=f"row {n}", title_justify="left", show_header=False, box=None,
                      padding=(0, 2, 0, 0))
        block.add_column(no_wrap=True, style="bold")
        block.add_column(overflow="fold")
        for c, v in zip(df.columns, row, strict=True):
            block.add_row(str(c), v)
        console.print(block)


@observe_app.command("metrics")
def metrics(
    files: list[Path] = typer.Argument(..., exists=True, dir_okay=False,
                                       help="Coded sessions (BORIS, ELAN, SDIS, Datavyu, CSV)."),
    scheme: Path | None = typer.Option(None, "--scheme", exists=True, dir_okay=False,
                                       help="Coding scheme YAML."),
    cues: str | None = typer.Option(None, "--cues", help="Cue codes, comma-separated."),
    responses: str | None = typer.Option(None, "--responses",
                                         help="Response codes, comma-separated."),
    window: str = typer.Option("0,5", "--window", help="Response window LO,HI seconds."),
    unit: float = typer.Option(1.0, "--unit", min=0.001, help="Time unit (s) for GSEQ tables."),
    permutations: int = typer.Option(1000, "--permutations", min=0,
                                     help="Circular shifts for the permutation p (0 = none)."),
    seed: int | None = typer.Option(None, "--seed", help="Seed for sampled shifts."),
    target: str = typer.Option("onset", "--target", help="Target units: onset or occurrence."),
    by_response_type: bool = typer.Option(False, "--by-response-type",
                                          help="Also one row per response type."),
    scheduler: str | None = typer.Option(None, "--scheduler",
                                         help="Dask distributed scheduler address."),
    lenient: bool = typer.Option(False, "--lenient", help="Repair what can be repaired and "
                                 "report every repair instead of stopping at the first file."),
    output: Path | None = typer.Option(None, "--output", "-o",
                                       help="Write CSV/TSV/JSON/Parquet instead of a table."),
    interval: str | None = INTERVAL_OPTION,
    actors_from: str | None = ACTORS_OPTION,
    infant: str | None = INFANT_OPTION,
    tier: list[str] | None = TIER_OPTION,
) -> None:
    """One row per session × caregiver × cue type: n_cues, responsiveness, latencies, Yule's Q,
    odds ratio, adjusted residual and circular-shift permutation p."""
    import warnings

    from rich.progress import Progress

    from attunement.observation import ObservationError, session_metrics

    w = _window(window)
    iv = _interval(interval)
    if target not in {"onset", "occurrence"}:
        raise typer.BadParameter("--target must be onset or occurrence")
    caught: list = []
    try:
        events, sch, rep = _load(files, scheme, lenient, actors_from=actors_from,
                                 infant=_split(infant), tiers=tier)
        if rep is not None and len(rep):
            _show_table(rep, None, "repairs made (lenient mode)")
        n = events["session"].nunique()
        with Progress(transient=True) as bar, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            task = bar.add_task("measuring sessions", total=n)
            out = session_metrics(
                events, sch, cues=_split(cues), responses=_split(responses), window=w,
                unit=unit, permutations=permutations, seed=seed, target=target,
                by_response_type=by_response_type, scheduler=scheduler,
                progress=lambda k: bar.update(task, completed=k), interval=iv,
                actors_from=actors_from, infant=_split(infant))
    except (ObservationError, ValueError) as exc:
        _print_warnings(caught)
        fail(exc)
    _print_warnings(caught)
    if output is None:
        cols = ["session", "interval_start", "interval_end", "caregiver", "cue_type",
                "response_type", "n_cues", "responsiveness", "median_latency", "yules_q",
                "odds_ratio", "adjusted_residual", "permutation_p"]
        _show_table(out[cols], None, "sensitivity measures")
    else:
        _show_table(out, output, "")


@observe_app.command("agreement")
def agreement(
    coder_a: Path = typer.Argument(..., exists=True, dir_okay=False, help="Coder A's file."),
    coder_b: Path = typer.Argument(..., exists=True, dir_okay=False, help="Coder B's file."),
    scheme: Path | None = typer.Option(None, "--scheme", exists=True, dir_okay=False,
                                       help="Coding scheme YAML (category sets)."),
    codes: str | None = typer.Option(None, "--codes", help="Codes to compare (no scheme)."),
    unit: float = typer.Option(1.0, "--unit", min=0.001, help="Time unit (s)."),
    tolerance: int = typer.Option(1, "--tolerance", min=0, help="Time-unit tolerance (units)."),
    event_tolerance: float = typer.Option(1.0, "--event-tolerance", min=0.0,
                                          help="Onset tolerance (s) for event alignment."),
    event_method: str = typer.Option("onset", "--event-method", help="Align events by onset "
                                     "(within --event-tolerance) or by 'sequence' order only."),
    ratings: bool = typer.Option(False, "--ratings", help="Files are global ratings: CSV with "
                                 "columns target, score (ICC and weighted kappa)."),
    levels: str | None = typer.Option(None, "--levels", help="Rating scale LO,HI (integers) "
                                      "for kappas of global ratings."),
    output: Path | None = typer.Option(None, "--output", "-o"),
    interval: str | None = INTERVAL_OPTION,
) -> None:
    """Agreement of two coders: time-unit kappa (with and without tolerance) and event-based
    kappa per session × actor, or ICCs and kappas for global ratings (``--ratings``)."""
    from attunement.observation import ObservationError
    from attunement.observation.timed_agreement import coder_agreement, ratings_agreement

    try:
        if ratings:
            lv = None
            if levels:
                lo, hi = (int(v) for v in levels.split(","))
                lv = list(range(lo, hi + 1))
            out = ratings_agreement(coder_a, coder_b, levels=lv)
        else:
            ev_a, sch, _ = _load([coder_a], scheme, False)
            ev_b, _, _ = _load([coder_b], scheme, False)
            out = coder_agreement(ev_a, ev_b, sch, codes=_split(codes), unit=unit,
                                  tolerance=tolerance, event_tolerance=event_tolerance,
                                  event_method=event_method, interval=_interval(interval))
    except (ObservationError, ValueError) as exc:
        fail(exc)
    _show_table(out, output, "observer agreement")


@observe_app.command("convert")
def convert(
    source: Path = typer.Argument(..., exists=True, dir_okay=False, help="Input file."),
    dest: Path = typer.Argument(..., help="Output file (.csv/.tsv, .sds, .eaf)."),
    to: str = typer.Option("auto", "--to", help="auto, csv, sdis, elan or boris (aggregated "
                           "TSV)."),
    from_format: str = typer.Option("auto", "--from", help="Input format (default: detect)."),
) -> None:
    """Convert between BORIS, ELAN, SDIS, Datavyu and plain CSV. BORIS exports and plain tables
    of any size are streamed into CSV/TSV or BORIS output (bounded memory)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from attunement.observation import ObservationError
    from attunement.observation.importers import convert_events

    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                      transient=True) as bar:
            task = bar.add_task("converting", total=None)
            n, n_sessions = convert_events(
                source, dest, from_format=from_format, to=to,
                progress=lambda k: bar.update(task, description=f"converted {k:,} events"))
    except (ObservationError, ValueError) as exc:
        fail(exc)
    typer.echo(f"wrote {n} events ({n_sessions} session{'' if n_sessions == 1 else 's'}) "
               f"to {dest}")


@observe_app.command("report")
def report(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Coded session(s)."),
    output: Path = typer.Option(..., "--output", "-o", help="report.html or timeline.png"),
    scheme: Path | None = typer.Option(None, "--scheme", exists=True, dir_okay=False),
    cues: str | None = typer.Option(None, "--cues"),
    responses: str | None = typer.Option(None, "--responses"),
    window: str = typer.Option("0,5", "--window"),
    session: str | None = typer.Option(None, "--session", help="Only this session."),
    permutations: int = typer.Option(1000, "--permutations", min=0),
    seed: int | None = typer.Option(None, "--seed"),
    interval: str | None = INTERVAL_OPTION,
    actors_from: str | None = ACTORS_OPTION,
    infant: str | None = INFANT_OPTION,
    tier: list[str] | None = TIER_OPTION,
) -> None:
    """Ethogram timeline (cues, responses, windows) as PNG for one session, or for any number of
    sessions an HTML summary page (one row per session and caregiver) linking to one page per
    session in <output>_sessions/."""
    import warnings

    from rich.progress import Progress

    from attunement.observation import ObservationError, session_metrics
    from attunement.observation.metrics import resolve_roles
    from attunement.observation.report import ethogram_png, write_report

    w = _window(window)
    iv = _interval(interval)
    caught: list = []
    try:
        events, sch, _ = _load([file], scheme, False, actors_from=actors_from,
                               infant=_split(infant), tiers=tier)
        if session is not None:
            if session not in set(events["session"]):
                raise ObservationError(f"no session {session!r} in the file", source=str(file))
            events = events[events["session"] == session]
        roles = resolve_roles(sch, _split(cues), _split(responses), actors_from=actors_from,
                              infant=_split(infant))
        suffix = output.suffix.lower()
        if suffix == ".png":
            sessions = list(dict.fromkeys(events["session"]))
            if len(sessions) > 1:
                raise ObservationError(f"{len(sessions)} sessions; choose one with --session "
                                       "or write .html", source=str(file))
            output.write_bytes(ethogram_png(roles.assign(events), roles, window=w,
                                            title=sessions[0]))
        elif suffix in {".html", ".htm"}:
            n = events["session"].nunique()
            with Progress() as bar, warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                task = bar.add_task("measuring sessions", total=n)
                m = session_metrics(events, sch, cues=_split(cues), responses=_split(responses),
                                    window=w, permutations=permutations, seed=seed, interval=iv,
                                    actors_from=actors_from, infant=_split(infant),
                                    progress=lambda k: bar.update(task, completed=k))
                pages = bar.add_task("writing session pages", total=n)
                write_report(events, roles, m, output, window=w,
                             progress=lambda k: bar.update(pages, completed=k))
        else:
            raise ObservationError("output must end in .html or .png", source=str(output))
    except (ObservationError, ValueError) as exc:
        _print_warnings(caught)
        fail(exc)
    _print_warnings(caught)
    typer.echo(f"wrote {output}")
