"""CLI for trials inside the platform: ``attunement platform trial design|show|consent|
withdraw-consent|randomise|allocations|verify|balance|consort`` (formerly ``study-trial``).

A thin face over :class:`attunement.usecases.trials.Trials` (the offline randomisation lists, power
and analysis are ``attunement trials ...``). Every command takes ``--db``/``$ATTUNEMENT_DB`` and
``--key-file``/``$ATTUNEMENT_KEY_FILE`` like the other platform commands, and runs as the local
operator (audited as ``system``, as ``attunement platform sites``/``users`` do) unless ``--as EMAIL``
names an active user, whose role and scope then apply and who is audited. Randomising always
needs ``--as``: the allocation records the person who randomised. Errors from the store are
printed as one line and exit with code 2.
"""

from __future__ import annotations

import csv
import functools
import inspect
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from attunement.cli._common import DbOption, KeyOption, fail, open_store
from attunement.csvsafe import safe_cell
from attunement.usecases import families as uc_families

if TYPE_CHECKING:
    from rich.table import Table

    from attunement.store import Actor, Store
    from attunement.usecases.trials import Trials

study_trial_app = typer.Typer(
    help="Randomised trials inside the platform: a study's design, randomising consented "
    "families, allocations, verification, balance and CONSORT.",
    no_args_is_help=True,
)

AsOption = typer.Option(
    None,
    "--as",
    metavar="EMAIL",
    help="Act as this active user (their role and sites apply; audited as them). "
    "Default: the local operator, audited as 'system'.",
)
StudyArg = typer.Argument(..., help="Study id or name.")


FamilyArg = typer.Argument(
    ..., help="Family record id (N or id:N) or its study code (CODE or code:CODE)."
)


class _CliError(Exception):
    """A problem with the command's own input (a file, an option), reported like store errors."""


def _escape(text: Any) -> str:
    from rich.markup import escape

    return escape(str(text))


@contextmanager
def _session(db: str | None, key_file: Path | None) -> Iterator[Store]:
    """The store (opened as the platform commands do); store errors exit 2 in one line."""
    from attunement.trials import DesignError

    with open_store(db, key_file, code=2, errors=(_CliError, DesignError)) as store:
        yield store


@dataclass(frozen=True)
class _StudySession:
    """What a ``platform trial COMMAND STUDY`` command works with: the open store, its trials,
    the acting user (``--as``) and the id of the study they named."""

    store: Store
    trials: Trials
    actor: Actor
    study: int


def _study_command(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register ``platform trial NAME STUDY ...`` whose function takes the open
    :class:`_StudySession` and then only its own arguments and options.

    STUDY, ``--as``, ``--db`` and ``--key-file`` mean the same in every such command, so they
    are declared here once: the command's signature is the study argument, the function's own
    parameters, then those three options.
    """
    shared = [("as_email", str | None, AsOption), ("db", str | None, DbOption),
              ("key_file", Path | None, KeyOption)]

    def register(func: Callable[..., None]) -> Callable[..., None]:
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        own = list(inspect.signature(func, eval_str=True).parameters.values())[1:]
        params = [inspect.Parameter("study", kind, default=StudyArg, annotation=str), *own,
                  *(inspect.Parameter(n, kind, default=d, annotation=t) for n, t, d in shared)]

        @functools.wraps(func)
        def command(study: str, as_email: str | None, db: str | None, key_file: Path | None,
                    **options: Any) -> None:
            with _session(db, key_file) as store:
                actor = _actor(store, as_email)
                sid = _study_id(store, actor, study)
                func(_StudySession(store, _trials(store), actor, sid), **options)

        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params} | {"return": None}
        study_trial_app.command(name)(command)
        return func

    return register


def _trials(store: Store) -> Trials:
    from attunement.usecases.trials import Trials

    return Trials(store)


def _actor(store: Store, email: str | None) -> Actor:
    """``--as EMAIL``: that active user's Actor; otherwise the system actor (as ``users add``)."""
    if email is None:
        return store.system_actor()
    wanted = email.strip().lower()
    for user in store.accounts.list_users(store.system_actor()):
        if user["email"].lower() == wanted:
            if not user["active"]:
                raise _CliError(f"--as: user {wanted} is disabled")
            return store.actor(user["id"])
    raise _CliError(f"--as: no user {wanted}")


def _study_id(store: Store, actor: Actor, ref: str) -> int:
    """A study id from its id or its name (only studies the actor may see)."""
    studies = store.accounts.list_studies(actor)
    ref = ref.strip()
    if ref.isdigit() and any(s["id"] == int(ref) for s in studies):
        return int(ref)
    for s in studies:
        if s["name"] == ref:
            return int(s["id"])
    for s in studies:
        if s["name"].casefold() == ref.casefold():
            return int(s["id"])
    raise _CliError(f"study {ref!r} not found")


def _family_id(store: Store, actor: Actor, study: int, ref: str) -> int:
    """A family's record id from ``N``/``id:N`` (record id) or ``CODE``/``code:CODE`` (the
    family's study code, which must be unique among the study's families in the actor's
    sites). A bare number is refused when another family of the study has it as its code."""
    ref = ref.strip()
    by_code = None
    if ref.startswith("id:"):
        by_id = ref[3:].strip()
    elif ref.startswith("code:"):
        by_id, by_code = None, ref[5:].strip()
    elif ref.isdigit():
        by_id = ref
    else:
        by_id, by_code = None, ref
    rows = [f for f in store.families.list_families(actor) if f.get("study") is not None]
    study_name = next((s["name"] for s in store.accounts.list_studies(actor) if s["id"] == study), None)
    in_study = [f for f in rows if f["study"] == study_name]
    if by_id is not None:
        if not by_id.isdigit():
            raise _CliError(f"family {ref!r}: id: needs a number")
        clash = [f for f in in_study if f["family_id"] == by_id and f["id"] != int(by_id)]
        if clash and not ref.startswith("id:"):
            raise _CliError(
                f"family {ref!r} is ambiguous: it is a record id and another family's code; "
                f"write id:{by_id} or code:{by_id}"
            )
        return int(by_id)
    found = [f for f in in_study if f["family_id"] == by_code]
    if not found:
        raise _CliError(f"family {by_code!r} not found in study {study_name or study}")
    if len(found) > 1:
        where = ", ".join(f"id:{f['id']} ({f['site']})" for f in found)
        raise _CliError(f"family code {by_code!r} is used at several sites; give one of {where}")
    return int(found[0]["id"])


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*[Text("" if v is None else _fmt(v)) for v in row])
    return table


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(_fmt(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _print(*items: Any) -> None:
    from rich.console import Console

    console = Console()
    for item in items:
        if isinstance(item, str):
            console.print(_escape(item), highlight=False)
        else:
            console.print(item)


# ---------------------------------------------------------------------------------- design


def _csv_list(text: str | None, option: str, kind: type = str) -> list[Any] | None:
    if text is None:
        return None
    items = [x.strip() for x in text.split(",") if x.strip()]
    if kind is str:
        return items
    try:
        return [kind(x) for x in items]
    except ValueError:
        raise _CliError(f"{option}: {text!r} is not a comma-separated list of numbers") from None


def _yaml_loader() -> type:
    """A safe YAML loader whose booleans are only true/false (YAML 1.2), so that levels such as
    ``smi: [yes, no]`` stay the words the practitioner records, not True/False."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
        list("tTfF"),
    )
    return Loader


def _read_design_file(path: Path) -> dict:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _CliError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _CliError(f"{path}: cannot read ({exc})") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _CliError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    else:
        try:
            data = yaml.load(text, Loader=_yaml_loader())
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            raise _CliError(f"{path}: not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise _CliError(f"{path}: expected a mapping of design keys (method, arms, ratio, ...)")
    return data


def _levels(items: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in items:
        col, sep, values = item.partition("=")
        if not sep or not col.strip():
            raise _CliError(f"--level: {item!r} is not COLUMN=VALUE,VALUE")
        out[col.strip()] = [v.strip() for v in values.split(",") if v.strip()]
    return out


@study_trial_app.command("design")
def design_command(
    study: str = StudyArg,
    file: Path | None = typer.Option(
        None, "--file", "-f", help="Design as YAML or JSON (method, arms, ratio, block_sizes, "
        "strata | factors, weights, p, imbalance, levels, consent_kind)."
    ),
    method: str | None = typer.Option(None, "--method", help="blocks | minimisation."),
    arms: str | None = typer.Option(None, "--arms", help="Comma-separated arm names."),
    ratio: str | None = typer.Option(None, "--ratio", help="Comma-separated, e.g. 1,1."),
    block_sizes: str | None = typer.Option(None, "--block-sizes", help="e.g. 2,4 (blocks)."),
    strata: str | None = typer.Option(None, "--strata", help="e.g. site,smi (blocks)."),
    factors: str | None = typer.Option(None, "--factors", help="e.g. site,smi (minimisation)."),
    weights: str | None = typer.Option(None, "--weights", help="Factor weights (minimisation)."),
    p: float | None = typer.Option(None, "--p", help="Probability of the minimising arm."),
    level: list[str] = typer.Option(
        [], "--level", help="Allowed values of a stratum/factor: COLUMN=VALUE,VALUE (repeat); "
        "site/centre come from the family's site."
    ),
    consent_kind: str | None = typer.Option(
        None, "--consent-kind", help="Consent that must be active (default: research)."
    ),
    secret_file: Path | None = typer.Option(
        None, "--secret-file", help="Read the secret seed (16+ characters) from this file, e.g. "
        "one kept by the independent statistician (default: a new random seed)."
    ),
    as_email: str | None = AsOption,
    db: str | None = DbOption,
    key_file: Path | None = KeyOption,
) -> None:
    """Define (or, while nobody is allocated, replace) a study's randomisation design (admin).

    Options override the keys of --file. The seed is stored encrypted and never shown; only
    its fingerprint is printed.
    """
    with _session(db, key_file) as store:
        spec: dict[str, Any] = _read_design_file(file) if file is not None else {}
        given = {
            "method": method,
            "arms": _csv_list(arms, "--arms"),
            "ratio": _csv_list(ratio, "--ratio", int),
            "block_sizes": _csv_list(block_sizes, "--block-sizes", int),
            "strata": _csv_list(strata, "--strata"),
            "factors": _csv_list(factors, "--factors"),
            "weights": _csv_list(weights, "--weights", float),
            "p": p,
            "consent_kind": consent_kind,
        }
        spec |= {k: val for k, val in given.items() if val is not None}
        if level:
            levels = spec.get("levels") if isinstance(spec.get("levels"), dict) else {}
            spec["levels"] = {**levels, **_levels(level)}
        if not spec:
            raise _CliError("give --file or the design options (--method, --arms, ...)")
        secret = None
        if secret_file is not None:
            try:
                secret = secret_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise _CliError(f"--secret-file: cannot read {secret_file}: {exc.strerror}"
                                ) from None
        actor = _actor(store, as_email)
        sid = _study_id(store, actor, study)
        out = _trials(store).define_design(actor, sid, spec, secret=secret)
        _print(_design_table(out), f"design saved; seed fingerprint {out['secret_fingerprint']} "
               "(the seed itself is stored encrypted and never shown)")


def _design_table(d: dict) -> Table:
    keys = [
        ("study", f"{d['study_name']} (id {d['study']})"),
        ("method", d.get("method")),
        ("arms", d.get("arms")),
    ]
    if "ratio" in d:  # absent for recruiters (allocation concealment)
        keys.append(("ratio", ":".join(str(r) for r in d["ratio"])))
    for key in ("block_sizes", "block_weights", "strata", "factors", "weights", "p", "imbalance"):
        if d.get(key) not in (None, [], ()):
            keys.append((key.replace("_", " "), d[key]))
    keys += [
        ("levels", {k: ", ".join(v) for k, v in d.get("levels", {}).items()} or "-"),
        ("consent", d.get("consent_kind")),
    ]
    if d.get("concealed"):
        keys.append(("allocation", "concealed from recruiters"))
    else:
        keys += [
            ("seed fingerprint", d.get("secret_fingerprint")),
            ("defined", d.get("created_at")),
            ("allocated", d.get("allocated")),
            ("locked", "yes (families are allocated)" if d.get("locked") else "no"),
        ]
    return _table("Randomisation design", ["", "value"], [[k, val] for k, val in keys])


@_study_command("show")
def show_command(session: _StudySession) -> None:
    """Show the study's randomisation design (never the seed)."""
    _print(_design_table(session.trials.get_design(session.actor, session.study)))


# ------------------------------------------------------------------------------ randomise


def _values(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        col, sep, val = item.partition("=")
        if not sep or not col.strip():
            raise _CliError(f"--value: {item!r} is not COLUMN=LEVEL")
        out[col.strip()] = val.strip()
    return out


@study_trial_app.command("randomise")
def randomise_command(
    study: str = StudyArg,
    family: str = FamilyArg,
    as_email: str = typer.Option(
        ..., "--as", metavar="EMAIL",
        help="The practitioner, site lead or admin randomising (recorded and audited).",
    ),
    value: list[str] = typer.Option(
        [], "--value", help="The family's level of a stratum/factor: COLUMN=LEVEL (repeat); "
        "site/centre are filled in from the family's site."
    ),
    db: str | None = DbOption,
    key_file: Path | None = KeyOption,
) -> None:
    """Randomise an enrolled family with active consent. The allocation can never change."""
    with _session(db, key_file) as store:
        from attunement import policy
        from attunement.policy import Action

        actor = _actor(store, as_email)
        policy.require(actor, Action.RANDOMISE)  # the store's rule, before looking the family up
        sid = _study_id(store, actor, study)
        fid = _family_id(store, actor, sid, family)
        trials = _trials(store)
        info = trials.factor_inputs(actor, fid)
        if info["study"] is not None and info["study"] != sid:
            raise _CliError(f"family {family} is not enrolled in study {study}")
        out = trials.randomise(actor, fid, values=_values(value))
        who = out.get("family_id", family)
        _print(
            f"family {who} randomised to {out['arm']!r} (stratum {out['stratum']}; "
            f"audit row {out['audit_id']})"
        )


# ---------------------------------------------------------------------------- consent


def _date(text: str, option: str) -> Any:
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise _CliError(f"{option}: {text!r} is not a date written YYYY-MM-DD") from None


@_study_command("consent")
def consent_command(
    session: _StudySession,
    family: str = FamilyArg,
    version: str = typer.Option(
        ..., "--version", help="Version of the information sheet and consent form."
    ),
    given_on: str = typer.Option(..., "--given-on", metavar="YYYY-MM-DD"),
    kind: str = typer.Option("research", "--kind", help="What was consented to."),
    caregiver: str | None = typer.Option(
        None, "--caregiver", help="Caregiver id (default: consent of the family)."
    ),
) -> None:
    """Record a consent given by an enrolled family (or one caregiver), so it can be randomised."""
    store, actor = session.store, session.actor
    fid = _family_id(store, actor, session.study, family)
    out = store.care.add_consent(actor, fid, kind=kind, version=version,
                            given_on=_date(given_on, "--given-on"), caregiver=caregiver)
    who = f"caregiver {out['caregiver']} of family {family}" if out["caregiver"] else (
        f"family {family}")
    _print(f"consent {out['id']} recorded: {out['kind']} (form {out['version']}) given by "
           f"{who} on {out['given_on']}")


@_study_command("withdraw-consent")
def withdraw_consent_command(
    session: _StudySession,
    family: str = FamilyArg,
    kind: str = typer.Option("research", "--kind", help="The consent withdrawn."),
    withdrawn_on: str = typer.Option(..., "--on", metavar="YYYY-MM-DD"),
    reason: str = typer.Option(..., "--reason", help="Why (kept in the audit log)."),
) -> None:
    """Record that a family's active consent of KIND was withdrawn (the record is kept)."""
    store, actor = session.store, session.actor
    fid = _family_id(store, actor, session.study, family)
    active = [c for c in uc_families.get_family(store, actor, fid).get("consents") or []
              if c["active"] and c["kind"] == kind]
    if not active:
        raise _CliError(f"family {family} has no active {kind!r} consent")
    for c in active:
        store.care.withdraw_consent(actor, c["id"], withdrawn_on=_date(withdrawn_on, "--on"),
                               reason=reason)
    _print(f"{len(active)} {kind} consent(s) of family {family} recorded as withdrawn "
           f"on {withdrawn_on}")


# ---------------------------------------------------------------------------- allocations


def _flat(rec: dict) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for key in ("sequence", "family", "family_id", "site", "arm", "stratum"):
        if key in rec:
            row[key] = rec[key]
    for col, val in rec.get("inputs", {}).items():
        row.setdefault(col, val)
    for key in ("allocated_at", "allocated_on_shifted", "allocated_by", "algorithm",
                "fingerprint", "audit_id"):
        if key in rec:
            row[key] = rec[key]
    if "details" in rec:
        row["details"] = json.dumps(rec["details"], sort_keys=True)
    return row


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns or ["sequence"])
            writer.writeheader()
            writer.writerows({k: safe_cell(v) for k, v in r.items()} for r in rows)
        tmp.replace(path)
    except OSError as exc:
        raise _CliError(f"--csv: cannot write {path}: {exc.strerror}") from None


@_study_command("allocations")
def allocations_command(
    session: _StudySession,
    csv_path: Path | None = typer.Option(
        None, "--csv", help="Also write every allocation (inputs, draws, who, when) as CSV."
    ),
) -> None:
    """List the study's allocations in enrolment order (researchers: pseudonymised)."""
    rows = session.trials.list_allocations(session.actor, session.study)
    if csv_path is not None:
        _write_csv(csv_path, [_flat(r) for r in rows])
    when = "allocated_at" if any("allocated_at" in r for r in rows) else "allocated_on_shifted"
    columns = ["sequence", "family_id", "arm", "stratum", when]
    if any("allocated_by" in r for r in rows):
        columns.append("allocated_by")
    table_rows = []
    for r in rows:
        at = r.get(when) or ""
        table_rows.append([r.get(c) if c != when else at[:19].replace("T", " ") for c in columns])
    headers = ["#", "family", "arm", "stratum",
               "allocated" if when == "allocated_at" else "allocated (shifted)", "by"]
    _print(_table(f"Allocations ({len(rows)})", headers[: len(columns)], table_rows))
    if csv_path is not None:
        _print(f"{len(rows)} allocations written to {csv_path}")


# --------------------------------------------------------------------------------- verify


@_study_command("verify")
def verify_command(session: _StudySession) -> None:
    """Replay the whole allocation sequence from the seed (admin); exit 1 if any differ."""
    bad = session.trials.verify(session.actor, session.study)
    design = session.trials.get_design(session.actor, session.study)
    if bad:
        fail(f"allocation sequence does NOT replay from the seed: allocation(s) "
             f"{', '.join(map(str, bad))} differ ({design['allocated']} allocations checked)",
             code=1)
    _print(
        f"allocation sequence verified: {design['allocated']} allocations replay from the seed "
        f"(fingerprint {design['secret_fingerprint']})"
    )


# -------------------------------------------------------------------------------- balance


@_study_command("balance")
def balance_command(session: _StudySession) -> None:
    """Allocations per arm overall and per stratum/factor level, with the largest imbalance."""
    frame = session.trials.balance(session.actor, session.study)
    design = session.trials.get_design(session.actor, session.study)
    ratio = ":".join(str(r) for r in design.get("ratio", []))
    rows = [list(r) for r in frame.itertuples(index=False)]
    columns = [str(c).replace("_", " ") for c in frame.columns]
    _print(_table(f"Balance ({design['method']}, ratio {ratio})", columns, rows))


# -------------------------------------------------------------------------------- CONSORT


@_study_command("consort")
def consort_command(
    session: _StudySession,
    svg: Path | None = typer.Option(None, "--svg", help="Also write the CONSORT flow diagram."),
) -> None:
    """CONSORT 2010 counts of the study's families (in the acting user's scope)."""
    trials, actor, sid = session.trials, session.actor, session.study
    try:
        counts = trials.consort(actor, sid)
        drawing = trials.consort_svg(actor, sid) if svg is not None else None
    except ValueError as exc:  # the library's ConsortError names what it cannot count
        raise _CliError(str(exc)) from None
    if drawing is not None and svg is not None:
        try:
            svg.write_text(drawing, encoding="utf-8")
        except OSError as exc:
            raise _CliError(f"--svg: cannot write {svg}: {exc.strerror}") from None
    frame = counts.to_frame()
    rows = [
        [r.stage, r.arm, r.box, "not recorded" if r.n is None or _isna(r.n) else int(r.n)]
        for r in frame.itertuples(index=False)
    ]
    items: list[Any] = [_table("CONSORT 2010 counts", ["stage", "arm", "box", "n"], rows)]
    if counts.other:
        items.append(_table("Excluded: other reasons", ["reason", "n"],
                            [[k, n] for k, n in counts.other.items()]))
    if svg is not None:
        items.append(f"CONSORT diagram written to {svg}")
    _print(*items)


def _isna(value: Any) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``attunement platform`` (as ``trial``)."""
    app.add_typer(study_trial_app, name="trial")
