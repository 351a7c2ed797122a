"""CLI commands for the instruments area: ``score`` and ``instruments list|show|export``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from attunement.cli._common import LIBRARY_PANEL, fail, read_table, write_table

instruments_app = typer.Typer(
    help="Describe and export the bundled questionnaire definitions.", no_args_is_help=True
)


def _csv_ready(df: Any) -> Any:
    """Categoricals as plain text for CSV output."""
    import polars as pl

    return df.with_columns(pl.col(pl.Categorical).cast(pl.Utf8))


class _NoStatus:
    def __enter__(self) -> _NoStatus:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, _text: str) -> None:
        return None


def _status(text: str) -> Any:
    """A rich spinner on stderr when it is a terminal (stdout may carry the CSV)."""
    if not sys.stderr.isatty():
        return _NoStatus()
    from rich.console import Console

    return Console(stderr=True).status(text)


def _parse_thresholds(values: list[str] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for raw in values or []:
        name, sep, value = raw.partition("=")
        if not sep:
            fail(f"--threshold expects name=value, got {raw!r}")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            fail(f"--threshold {name}: {value!r} is not a number")
    return out


def score_command(
    instrument: str = typer.Argument(..., help="Instrument id, e.g. epds (see `instruments list`)."),
    file: Path = typer.Argument(..., help="CSV or Parquet with item columns {id}_1 … {id}_n."),
    input: str = typer.Option("scores", "--input", help="scores (keyed) or positions (1-based)."),
    output: Path | None = typer.Option(None, "--output", "-o",
                                       help="Write CSV or Parquet (by extension); default stdout CSV."),
    on_error: str = typer.Option("raise", "--on-error", help="raise: stop at the first bad value; "
                                 "report: score good rows, write bad rows to --errors."),
    errors: Path | None = typer.Option(None, "--errors", help="Where --on-error report writes bad "
                                       "rows with reasons (default: <output or input>.errors.csv)."),
    threshold: list[str] | None = typer.Option(None, "--threshold", help="Override a configurable "
                                               "cut-off, e.g. epds_possible_depression=11 "
                                               "(repeatable; safety rules cannot be changed)."),
    variant: list[str] | None = typer.Option(None, "--variant", help="Definition variant, e.g. "
                                             "order_2001 for the PBQ (repeatable)."),
) -> None:
    """Score a questionnaire for every row of a CSV or Parquet file."""
    from attunement.instruments import ScoringError, UnknownInstrument, load_instrument, score

    if input not in ("scores", "positions"):
        fail("--input must be scores or positions")
    if on_error not in ("raise", "report"):
        fail("--on-error must be raise or report")
    try:
        inst = load_instrument(instrument, variant=variant or None)
    except UnknownInstrument as exc:
        fail(str(exc))
    if not file.exists():
        fail(f"{file}: no such file")
    thresholds = _parse_thresholds(threshold)
    try:
        with _status(f"reading {file.name}") as status:
            data = read_table(file, engine="polars", text_prefix=f"{inst.id}_")
            status.update(f"scoring {len(data):,} rows of {inst.short_name}")
            result = score(inst, data, input=input, thresholds=thresholds or None,
                           on_error=on_error)
    except ScoringError as exc:
        # one way of pointing at a record: the line in a text file (header = line 1), else
        # the data row counted from 1
        where = []
        if exc.row is not None:
            where.append(f"{_record_word(file)} {exc.row + _record_offset(file)}")
        if exc.column is not None:
            where.append(f"column {exc.column}")
        more = f" (and {exc.more} more problem{'s' if exc.more > 1 else ''})" if exc.more else ""
        fail(f"{file}: {', '.join(where)}: {exc.reason}{more}" if where else f"{file}: {exc}")
    if on_error == "report":
        scored, bad = result.scored, result.bad_rows
        write_table(_csv_ready(scored), output)
        if len(bad) and "row" in bad.columns:
            import polars as pl

            bad = bad.with_columns(pl.col("row") + _record_offset(file)).rename(
                {"row": _record_word(file)})
        if len(bad):
            target = errors or Path(f"{(output or Path(file.name)).with_suffix('')}.errors.csv")
            write_table(_csv_ready(bad), target)
            typer.echo(f"{len(bad)} bad row(s) not scored; reasons in {target}", err=True)
        typer.echo(f"scored {len(scored)} row(s)", err=True)
        return
    write_table(_csv_ready(result) if (output is None or output.suffix.lower() not in
                                        (".parquet", ".pq")) else result, output)


def _record_word(file: Path) -> str:
    return "line" if file.suffix.lower() in (".csv", ".tsv", ".txt") else "row"


def _record_offset(file: Path) -> int:
    """From the library's 0-based row index to the line a person sees (header = line 1)."""
    return 2 if _record_word(file) == "line" else 1


@instruments_app.command("list")
def list_command() -> None:
    """List the bundled instruments."""
    from rich.console import Console
    from rich.table import Table

    from attunement.instruments import list_instruments

    instruments = list_instruments()
    console = Console()
    # the id is what one types: never cut it; in a narrow terminal the secondary columns go
    narrow = console.width < 120
    table = Table(title="attunement instruments")
    table.add_column("id", no_wrap=True, min_width=max(len(i.id) for i in instruments))
    table.add_column("name", no_wrap=True)
    table.add_column("items", justify="right")
    table.add_column("respondent")
    if not narrow:
        table.add_column("recall")
    table.add_column("scales", overflow="fold")
    if not narrow:
        table.add_column("LOINC")
        table.add_column("wording")
    for inst in instruments:
        row = [inst.id, inst.short_name, str(inst.n_items), inst.respondent]
        if not narrow:
            row.append(inst.recall_period or "–")
        row.append(", ".join(s.id for s in inst.scales))
        if not narrow:
            row += [inst.loinc or "–",
                    "bundled" if inst.licence.get("wording_bundled") else "labels only"]
        table.add_row(*row)
    console.print(table)
    if narrow:
        console.print("(recall period, LOINC and wording: attunement instruments show ID)")


@instruments_app.command("show")
def show_command(
    instrument: str = typer.Argument(..., help="Instrument id."),
) -> None:
    """Show a definition: items and keys, scales, bands, cut-offs with sources, safety items."""
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table

    from attunement.instruments import UnknownInstrument, load_instrument
    from attunement.instruments.definition import OP_TEXT, _fmt

    try:
        inst = load_instrument(instrument)
    except UnknownInstrument as exc:
        fail(str(exc))
    console = Console()
    head = [
        f"[bold]{inst.name}[/bold] ({inst.short_name}), version {inst.version}, {inst.kind}",
        f"Respondent: {inst.respondent}; recall period: {inst.recall_period or '–'}; "
        f"LOINC: {inst.loinc or '–'}",
        f"Citation: {inst.citation}",
        f"Licence: {inst.licence.get('basis', '')} {inst.licence.get('evidence', '')}",
        "Item wording: " + ("bundled" if inst.licence.get("wording_bundled") else
                            "not bundled (our short labels; load a licensed item text pack)"),
    ]
    if inst.item_order:
        head.append(f"Item order: {inst.item_order.get('version')} "
                    f"(alternatives: {', '.join(inst.item_order.get('alternatives') or {}) or '–'})")
    if inst.description:
        head.append(inst.description)
    console.print(Panel("\n".join(head), title=inst.id))
    safety_items = inst.safety_items
    items = Table(title="Items (score of each option position 1…n)")
    for col in ("#", "label", "options", "scores", "note"):
        items.add_column(col)
    for it in inst.items:
        note = []
        if it.number in safety_items:
            note.append("[red]safety/review item[/red]")
        if not it.scored:
            note.append("not scored")
        if it.optional:
            note.append("optional")
        if it.note:
            note.append(it.note)
        items.add_row(str(it.number), it.label, str(it.n_options),
                      ", ".join(f"{s:.4g}" for s in it.scores), "; ".join(note))
    console.print(items)
    scales = Table(title="Scales")
    for col in ("output column", "label", "items", "method", "range", "missing data"):
        scales.add_column(col)
    for sc in inst.scales:
        miss = ("no score if any item is missing" if sc.missing.rule == "complete"
                else f"prorate up to {sc.missing.max_missing} missing (research only)")
        scales.add_row(f"{inst.id}_{sc.id}", sc.label, ", ".join(map(str, sc.items)), sc.method,
                       f"{_fmt(sc.range[0])}–{_fmt(sc.range[1])}", miss)
    console.print(scales)
    if inst.bands:
        bands = Table(title="Bands")
        for col in ("output column", "scale", "levels", "source"):
            bands.add_column(col)
        for b in inst.bands:
            bands.add_row(f"{inst.id}_{b.id}", b.scale, "; ".join(
                f"{lv.label} {_fmt(lv.min)}–{_fmt(lv.max)}" for lv in b.levels),
                f"{b.source} {b.evidence}")
        console.print(bands)
    if inst.cutoffs:
        cuts = Table(title="Cut-offs (configurable ones can be set per service)")
        for col in ("output column", "rule", "meaning", "evidence", "configurable", "source",
                    "alternatives"):
            cuts.add_column(col)
        for c in inst.cutoffs:
            alts = "; ".join(f"{_fmt(a['value'])}: {a['source']}" for a in c.alternatives)
            cuts.add_row(f"{inst.id}_{c.id}", f"{c.scale} {c.rule_text()}", c.label, c.evidence,
                         "yes" if c.configurable else "no", c.source, alts or "–")
        console.print(cuts)
    if inst.safety:
        safety = Table(title="Safety and review items (never prorated, cannot be switched off)")
        for col in ("output column", "rule", "kind", "action", "evidence", "source"):
            safety.add_column(col)
        for r in inst.safety:
            safety.add_row(f"{inst.id}_{r.id}", " or ".join(
                f"item {n} {OP_TEXT[r.op]} {_fmt(r.value)}" for n in r.items), r.kind, r.action,
                r.evidence, r.source)
        console.print(safety)
    if inst.variants:
        variants = Table(title="Variants (--variant)")
        for col in ("name", "description", "evidence"):
            variants.add_column(col)
        for name, v in inst.variants.items():
            variants.add_row(name, v["description"], v.get("evidence", ""))
        console.print(variants)
    for note in inst.notes:
        console.print(f"• {note}")


@instruments_app.command("export")
def export_command(
    instrument: str = typer.Argument(..., help="Instrument id."),
    format: str = typer.Option(..., "--format", help="fhir (R4 Questionnaire JSON) or redcap "
                               "(data-dictionary CSV)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="File to write; default stdout."),
    text_pack: Path | None = typer.Option(None, "--text-pack", help="Licensed item wording to "
                                          "use instead of our short labels."),
) -> None:
    """Export a definition as a FHIR R4 Questionnaire or REDCap data-dictionary rows."""
    import json

    from attunement.instruments import (
        DefinitionError,
        UnknownInstrument,
        load_instrument,
        load_item_text_pack,
        to_fhir_questionnaire,
        to_redcap_dictionary,
    )
    from attunement.instruments.export import redcap_csv

    try:
        inst = load_instrument(instrument)
        pack = load_item_text_pack(text_pack).get(inst.id) if text_pack else None
    except (UnknownInstrument, DefinitionError) as exc:
        fail(str(exc))
    if format == "fhir":
        text = json.dumps(to_fhir_questionnaire(inst, text_pack=pack), indent=2,
                          ensure_ascii=False) + "\n"
    elif format == "redcap":
        text = redcap_csv(to_redcap_dictionary(inst, text_pack=pack))
    else:
        fail("--format must be fhir or redcap")
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.command("score", rich_help_panel=LIBRARY_PANEL)(score_command)
    app.add_typer(instruments_app, name="instruments", rich_help_panel=LIBRARY_PANEL)
