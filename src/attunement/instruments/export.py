"""Exports: FHIR R4 Questionnaire / QuestionnaireResponse and REDCap data-dictionary rows."""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

from attunement.instruments.definition import Instrument, Item, _fmt, load_instrument
from attunement.instruments.errors import ScoringError

ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
LOINC = "http://loinc.org"

REDCAP_COLUMNS = [
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
]


def canonical_url(inst: Instrument) -> str:
    """The Questionnaire's canonical URL (a URN: attunement hosts no FHIR server).

    Parameters
    ----------
    inst : Instrument
        The definition.

    Returns
    -------
    str
        ``urn:attunement:questionnaire:{id}``.

    Examples
    --------
    >>> canonical_url(load_instrument("epds"))
    'urn:attunement:questionnaire:epds'
    """
    return f"urn:attunement:questionnaire:{inst.id}"


def _option_system(inst: Instrument) -> str:
    return f"urn:attunement:questionnaire:{inst.id}:option-position"


def _option_label(item: Item, pos: int) -> str:
    if item.option_labels:
        return item.option_labels[pos - 1]
    return f"option {pos}"


def _num(v: float) -> int | float:
    return int(v) if float(v).is_integer() else round(float(v), 4)


def to_fhir_questionnaire(
    instrument_id: str | Instrument,
    *,
    text_pack: Mapping[int, str] | None = None,
    status: str = "active",
) -> dict[str, Any]:
    """The definition as a FHIR R4 ``Questionnaire`` (JSON-ready dict).

    Each item is a ``choice`` with one ``answerOption`` per printed option: ``valueCoding.code`` is
    the 1-based position and the ``ordinalValue`` extension carries the keyed score. Item text is
    our short label unless a licensed ``text_pack`` ({item number: wording}) is given.

    Parameters
    ----------
    instrument_id : str or Instrument
        The instrument.
    text_pack : mapping, optional
        Item number -> licensed wording.
    status : str, default ``"active"``
        The Questionnaire's status.

    Returns
    -------
    dict
        The resource.

    Examples
    --------
    >>> q = to_fhir_questionnaire("epds")
    >>> q["resourceType"], q["url"], q["item"][0]["linkId"], len(q["item"])
    ('Questionnaire', 'urn:attunement:questionnaire:epds', 'epds_1', 10)
    """
    inst = load_instrument(instrument_id)
    items = []
    for it in inst.items:
        options = []
        for pos, sc in enumerate(it.scores, start=1):
            options.append({
                "valueCoding": {
                    "system": _option_system(inst),
                    "code": str(pos),
                    "display": _option_label(it, pos),
                },
                "extension": [{"url": ORDINAL_VALUE, "valueDecimal": _num(sc)}],
            })
        entry: dict[str, Any] = {
            "linkId": inst.column(it.number),
            "prefix": str(it.number),
            "text": (text_pack or {}).get(it.number, it.label),
            "type": "choice",
            "required": not it.optional,
            "answerOption": options,
        }
        items.append(entry)
    q: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": inst.id,
        "url": canonical_url(inst),
        "version": inst.version,
        "name": re.sub(r"[^A-Za-z0-9]", "", inst.short_name) or inst.id.upper(),
        "title": inst.name,
        "status": status,
        "subjectType": ["Patient"],
        "description": (inst.description + " Citation: " + inst.citation).strip(),
        "copyright": inst.licence.get("basis", ""),
        "item": items,
    }
    if inst.loinc:
        q["code"] = [{"system": LOINC, "code": inst.loinc, "display": inst.name}]
    return q


def to_fhir_questionnaire_response(
    instrument_id: str | Instrument,
    responses: Sequence[int | float | None],
    *,
    subject: str | None = None,
    authored: str | _dt.date | _dt.datetime | None = None,
    input: str = "scores",
    status: str = "completed",
) -> dict[str, Any]:
    """One person's answers as a FHIR R4 ``QuestionnaireResponse`` (JSON-ready dict).

    Unanswered items are left out, as FHIR expects.

    Parameters
    ----------
    instrument_id : str or Instrument
        The instrument.
    responses : sequence
        In item order (``None`` = not answered), as keyed scores (default) or 1-based positions.
    subject : str, optional
        A reference such as ``"Patient/123"``.
    authored : date, datetime or str, optional
        When it was answered (ISO text accepted).
    input : {"scores", "positions"}
        What ``responses`` are.
    status : str, default ``"completed"``
        The response's status.

    Returns
    -------
    dict
        The resource.

    Raises
    ------
    ScoringError
        A response that is not a valid answer to its item.

    Examples
    --------
    >>> r = to_fhir_questionnaire_response("phq9", [0, 1, 2, 0, 0, 1, 0, 0, 1],
    ...                                    subject="Patient/1", authored="2024-01-05")
    >>> r["resourceType"], r["authored"], r["item"][2]["answer"][0]["valueCoding"]["code"]
    ('QuestionnaireResponse', '2024-01-05', '3')
    """
    inst = load_instrument(instrument_id)
    if input not in ("scores", "positions"):
        raise ScoringError(f"input must be 'scores' or 'positions', got {input!r}")
    seq = list(responses)
    required = sum(1 for it in inst.items if not it.optional)
    if not required <= len(seq) <= inst.n_items:
        raise ScoringError(
            f"{inst.short_name} needs {required} to {inst.n_items} responses, got {len(seq)}"
        )
    answers = []
    for it, raw in zip(inst.items, seq, strict=False):
        col = inst.column(it.number)
        if raw is None:
            continue
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ScoringError(f"non-numeric value {raw!r}", column=col, value=raw)
        if input == "positions":
            if not float(raw).is_integer() or not 1 <= raw <= it.n_options:
                raise ScoringError(
                    f"{raw} is out of range (positions 1–{it.n_options})", column=col, value=raw
                )
            pos = int(raw)
        else:
            matches = [p for p, s in enumerate(it.scores, start=1) if abs(s - float(raw)) <= 0.01]
            if not matches:
                raise ScoringError(
                    f"{raw} is not an allowed score ({', '.join(_fmt(s) for s in it.scores)})",
                    column=col, value=raw,
                )
            pos = matches[0]
        answers.append({
            "linkId": col,
            "answer": [{"valueCoding": {
                "system": _option_system(inst), "code": str(pos),
                "display": _option_label(it, pos),
                "extension": [{"url": ORDINAL_VALUE, "valueDecimal": _num(it.scores[pos - 1])}],
            }}],
        })
    qr: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{canonical_url(inst)}|{inst.version}",
        "status": status,
        "item": answers,
    }
    if subject:
        qr["subject"] = {"reference": subject}
    if authored is not None:
        qr["authored"] = authored if isinstance(authored, str) else authored.isoformat()
    return qr


def _redcap_code(item: Item, pos: int) -> str:
    if not item.integer_scores:  # fractional keys (MPAS): the code is the position
        return f"p{pos}"
    score = item.scores[pos - 1]
    if list(item.scores).index(score) != pos - 1:  # a second option with the same score
        return f"p{pos}"
    return _fmt(score)


def _redcap_value(inst: Instrument, item: Item) -> str:
    """REDCap expression giving the keyed score of an item field."""
    field = f"[{inst.column(item.number)}]"
    if not item.integer_scores:
        expr = "''"
        for pos in range(item.n_options, 0, -1):
            value = f"{item.scores[pos - 1]:.6f}".rstrip("0").rstrip(".")
            expr = f"if({field}='p{pos}',{value},{expr})"
        return expr
    expr = field
    for pos in range(1, item.n_options + 1):
        code = _redcap_code(item, pos)
        if code.startswith("p"):
            expr = f"if({field}='{code}',{_fmt(item.scores[pos - 1])},{expr})"
    return expr


def to_redcap_dictionary(
    instrument_id: str | Instrument,
    *,
    record_id: bool = True,
    text_pack: Mapping[int, str] | None = None,
) -> list[dict[str, str]]:
    """REDCap data-dictionary rows (the 18 exact CSV headers) for one instrument.

    Items are ``radio`` fields whose choice codes are the keyed scores ("score, label | …"); a
    second option with the same score (KPCS "not applicable") gets code ``p{position}``, and
    items with fractional keys (MPAS) use ``p{position}`` codes mapped to exact scores. Scales
    are ``calc`` fields written as explicit sums so that a missing item leaves them blank (no
    silent prorating); safety rules and cut-offs are ``calc`` 0/1 fields.

    Parameters
    ----------
    instrument_id : str or Instrument
        The instrument.
    record_id : bool, default True
        Start with REDCap's ``record_id`` field.
    text_pack : mapping, optional
        Item number -> licensed wording for the field labels.

    Returns
    -------
    list of dict
        One row per field, keyed by the REDCap headers.

    Examples
    --------
    >>> rows = to_redcap_dictionary("phq9")
    >>> item = rows[1]
    >>> item["Variable / Field Name"], item["Field Type"]
    ('phq9_1', 'radio')
    >>> item["Choices, Calculations, OR Slider Labels"]
    '0, not at all | 1, several days | 2, more than half the days | 3, nearly every day'
    """
    inst = load_instrument(instrument_id)
    form = inst.id
    rows: list[dict[str, str]] = []

    def row(**kw: str) -> None:
        r = dict.fromkeys(REDCAP_COLUMNS, "")
        r.update({
            "Variable / Field Name": kw.pop("name"),
            "Form Name": form,
            "Field Type": kw.pop("type"),
            "Field Label": kw.pop("label"),
        })
        for k, v in kw.items():
            r[k] = v
        rows.append(r)

    if record_id:
        row(name="record_id", type="text", label="Record ID")
    items_header = f"{inst.name} ({inst.short_name}, {inst.version})"
    for i, it in enumerate(inst.items):
        choices = " | ".join(
            f"{_redcap_code(it, p)}, {_option_label(it, p)}" for p in range(1, it.n_options + 1)
        )
        row(
            name=inst.column(it.number), type="radio",
            label=(text_pack or {}).get(it.number, it.label),
            **{
                "Choices, Calculations, OR Slider Labels": choices,
                "Section Header": items_header if i == 0 else "",
                "Field Note": "" if it.scored else "Recorded, not scored",
                "Required Field?": "" if it.optional else "y",
                "Question Number (surveys only)": str(it.number),
                "Field Annotation": f"attunement {inst.id} item {it.number}; codes are "
                                    + ("keyed scores" if it.integer_scores else "positions"),
            },
        )
    by_number = {it.number: it for it in inst.items}
    scale_expr: dict[str, str] = {}
    for j, sc in enumerate(inst.scales):
        terms = [_redcap_value(inst, by_number[n]) for n in sc.items]
        if sc.method == "sum":
            expr = "+".join(terms)
        elif sc.method == "mean":
            expr = f"({'+'.join(terms)})/{len(terms)}"
        else:
            expr = "if(" + " or ".join(f"{t}=1" for t in terms) + ",1,0)"
        scale_expr[sc.id] = f"[{inst.id}_{sc.id}]"
        row(
            name=f"{inst.id}_{sc.id}", type="calc", label=f"{inst.short_name} {sc.label}",
            **{
                "Choices, Calculations, OR Slider Labels": expr,
                "Section Header": "Scores" if j == 0 else "",
                "Field Note": f"range {_fmt(sc.range[0])}–{_fmt(sc.range[1])}",
                "Field Annotation": "@READONLY; blank when any item is missing",
            },
        )
    for cut in inst.cutoffs:
        row(
            name=f"{inst.id}_{cut.id}", type="calc", label=f"{inst.short_name}: {cut.label}",
            **{
                "Choices, Calculations, OR Slider Labels":
                    f"if({scale_expr[cut.scale]}{cut.op.replace('==', '=')}"
                    f"{_fmt(cut.value)},1,0)",
                "Field Note": f"{cut.source} {cut.evidence}"
                              + (" (configurable)" if cut.configurable else ""),
                "Field Annotation": "@READONLY",
            },
        )
    for rule in inst.safety:
        cond = " or ".join(
            f"{_redcap_value(inst, by_number[n])}{rule.op.replace('==', '=')}{_fmt(rule.value)}"
            for n in rule.items
        )
        row(
            name=f"{inst.id}_{rule.id}", type="calc",
            label=f"{inst.short_name} {rule.kind}: {rule.label} → {rule.action}",
            **{
                "Choices, Calculations, OR Slider Labels": f"if({cond},1,0)",
                "Field Note": f"{rule.source}; a blank item must be asked about directly",
                "Field Annotation": "@READONLY",
            },
        )
    return rows


def redcap_csv(rows: list[dict[str, str]]) -> str:
    """Data-dictionary rows as CSV text with the exact REDCap headers.

    Parameters
    ----------
    rows : list of dict
        From :func:`to_redcap_dictionary`.

    Returns
    -------
    str
        The CSV text (header line first).

    Examples
    --------
    >>> redcap_csv(to_redcap_dictionary("phq9")[:1]).splitlines()[1]
    'record_id,phq9,,text,Record ID,,,,,,,,,,,,,'
    """
    import csv
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=REDCAP_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()
