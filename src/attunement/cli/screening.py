"""CLI commands for the screening area: ``profile``, ``match`` and ``interventions``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from attunement.cli._common import LIBRARY_PANEL, fail, print_json, show_result

interventions_app = typer.Typer(
    name="interventions",
    help="The attachment-informed intervention catalogue.",
    no_args_is_help=True,
)


def _errors() -> tuple[type[BaseException], ...]:
    from attunement.interventions import CatalogueError
    from attunement.risk import DefinitionError, FamilyError

    return (FamilyError, DefinitionError, CatalogueError, ValueError, OSError)


def _profile(family: Path, config: Path | None) -> tuple[Any, Any]:
    from attunement.risk import load_family, profile

    fam = load_family(family)
    return fam, profile(fam, config=config)


def profile_command(
    family: Path = typer.Argument(..., help="Family file (JSON or YAML)."),
    as_json: bool = typer.Option(False, "--json", help="Print the machine form (JSON)."),
    config: Path | None = typer.Option(
        None, "--config",
        help="A service's config (YAML: thresholds, tiers, screens, routes: local names/contacts).",
    ),
) -> None:
    """Explain a family's profile: urgency (emergency first), treatment routes for the caregivers'
    own health, prompts, factors, cumulative risk, tier and pathways."""
    try:
        _, prof = _profile(family, config)
    except _errors() as exc:
        fail(exc)
    show_result(prof, as_json)


def match_command(
    family: Path = typer.Argument(..., help="Family file (JSON or YAML)."),
    offered: str | None = typer.Option(
        None, "--offered", help="Comma-separated programme ids the service offers."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the machine form (JSON)."),
    config: Path | None = typer.Option(None, "--config", help="A service's thresholds (YAML)."),
) -> None:
    """Match a family to attachment-informed interventions, ranked, with reasons and evidence."""
    from attunement.interventions import match

    try:
        fam, prof = _profile(family, config)
        ids = [s.strip() for s in offered.split(",")] if offered is not None else None
        result = match(prof, fam, offered=ids)
    except _errors() as exc:
        fail(exc)
    show_result(result, as_json)


@interventions_app.command("list")
def list_command(
    tier: str | None = typer.Option(None, "--tier", help="Only programmes serving this tier."),
    pathway: str | None = typer.Option(None, "--pathway", help="Only programmes on this pathway."),
    as_json: bool = typer.Option(False, "--json", help="Print the machine form (JSON)."),
) -> None:
    """List the catalogue: id, name, mechanism, tiers, window and evidence strength."""
    from attunement.interventions import MECHANISM_LABELS, load_catalogue
    from attunement.risk import load_definitions

    try:
        cat = load_catalogue()
    except _errors() as exc:
        fail(exc)
    defs = load_definitions()
    tiers = [t.id for t in defs.tiers]
    pathways = [p.id for p in defs.pathways]
    if tier is not None and tier not in tiers:
        fail(f"--tier: {tier!r} is not one of {', '.join(tiers)}")
    if pathway is not None and pathway not in pathways:
        fail(f"--pathway: {pathway!r} is not one of {', '.join(pathways)}")
    progs = [p for p in cat if (tier is None or tier in p.tiers)
             and (pathway is None or pathway in p.pathways)]
    if as_json:
        print_json([{"id": p.id, "name": p.name, "mechanism": p.mechanism, "tiers": p.tiers,
                      "pathways": p.pathways, "window": p.window_text(),
                      "evidence_strength": p.strength} for p in progs])
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Intervention catalogue ({len(progs)} of {len(cat)} programmes)")
    for col in ("id", "programme", "mechanism", "tiers", "window", "evidence"):
        table.add_column(col, overflow="fold")
    for p in progs:
        table.add_row(p.id, p.name, ", ".join(MECHANISM_LABELS[c] for c in p.mechanism),
                      ", ".join(p.tiers), p.window_text(), f"{p.strength}/5")
    Console().print(table)


@interventions_app.command("show")
def show_command(
    programme_id: str = typer.Argument(..., metavar="ID", help="Programme id, e.g. abc."),
    as_json: bool = typer.Option(False, "--json", help="Print the machine form (JSON)."),
) -> None:
    """Show one programme: mechanism, eligibility, format, dose, evidence and uncertainties."""
    from attunement.interventions import load_catalogue

    try:
        prog = load_catalogue().get(programme_id)
    except KeyError as exc:
        fail(str(exc.args[0]))
    except _errors() as exc:
        fail(exc)
    data = prog.to_dict()
    if as_json:
        print_json(data)
        return
    from rich.console import Console
    from rich.markdown import Markdown

    ev = data["evidence"]
    elig = data["eligibility"]
    roles = elig["caregiver_roles"]
    lines = [
        f"# {prog.name}",
        f"*{data['developer']}*",
        f"**Mechanism:** {', '.join(data['mechanism']['codes'])}: {data['mechanism']['summary'].strip()}",
        f"**Tiers:** {', '.join(data['tiers'])}; **pathways:** {', '.join(data['pathways'])}",
        f"**Window:** {data['window']} ({elig.get('window_note', '').rstrip('.')})",
        f"**Caregivers:** {roles if isinstance(roles, str) else ', '.join(roles)}",
    ]
    for cond in elig.get("requires") or []:
        lines.append(f"**Requires:** {cond['label']}")
    for cond in elig.get("excludes") or []:
        lines.append(f"**Excludes:** {cond['label']}")
    lines += [
        f"**Format:** {data['format']}",
        f"**Dose:** {data['dose']}",
        f"**Delivered by:** {data['delivered_by']}",
        f"**Outcome measures:** {', '.join(data['outcome_measures'])}",
        f"## Evidence ({ev['strength']}/5: {ev['strength_label']})",
        ev["summary"],
    ]
    for s in ev["studies"]:
        effect = f" Effect: {s['effect_size']}." if s.get("effect_size") else ""
        lines.append(f"- {s['citation']}: {s['design']}; {s['finding']}.{effect}")
    for r in ev["ratings"]:
        lines.append(f"- Rating: {r}")
    lines.append("## Uncertain")
    lines += [f"- {u}" for u in data["uncertainties"]]
    Console().print(Markdown("\n\n".join(lines[:6]) + "\n\n" + "\n\n".join(lines[6:])))


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.command("profile", rich_help_panel=LIBRARY_PANEL)(profile_command)
    app.command("match", rich_help_panel=LIBRARY_PANEL)(match_command)
    app.add_typer(interventions_app, name="interventions", rich_help_panel=LIBRARY_PANEL)
