"""Exports of stored assessments to REDCap and FHIR, built by the instrument library.

The store hands over the tidy assessment table (one row per assessment, already pseudonymised
for researchers); these functions reshape it. Every instrument's REDCap fields and FHIR
answers come from :mod:`attunement.instruments.export`, the same functions as
``attunement instruments export``:

- :func:`redcap_dictionary`: a ``record_id`` row, then per instrument
  :func:`~attunement.instruments.export.to_redcap_dictionary` (items as ``radio`` fields whose
  codes are the keyed scores, ``p{position}`` for a second option with the same score or for
  fractional keys; scales, cut-offs and safety rules as ``calc`` fields), then a read-only text
  field for each computed column the library does not describe (bands, "safety item not
  answered");
- :func:`redcap_flat`: REDCap's "flat" record layout (one row per record per event,
  ``record_id``, ``redcap_event_name``, then each form's fields ending in ``<form>_complete``),
  item answers written as the dictionary's choice codes;
- :func:`fhir_bundle`: a FHIR R4 Bundle (type collection) of
  :func:`~attunement.instruments.export.to_fhir_questionnaire_response` resources.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd

from attunement.instruments import (
    load_instrument,
    to_fhir_questionnaire_response,
    to_redcap_dictionary,
)
from attunement.instruments.export import REDCAP_COLUMNS

DICTIONARY_COLUMNS = REDCAP_COLUMNS
_CHOICES = "Choices, Calculations, OR Slider Labels"
_PERSON_COLUMNS = ("person_id", "pseudonym", "caregiver_pid", "caregiver_key", "caregiver_id",
                   "caregiver")
_EVENT = re.compile(r"[^a-z0-9]+")


def _person_column(frame: pd.DataFrame) -> str:
    for name in _PERSON_COLUMNS:
        if name in frame.columns:
            return name
    raise ValueError("the export table has no caregiver id column")


def _family_column(frame: pd.DataFrame) -> str | None:
    for name in ("family_pid", "family_code", "family_id", "family"):
        if name in frame.columns:
            return name
    return None


def _instruments(frame: pd.DataFrame) -> list[str]:
    if "instrument" not in frame.columns or frame.empty:
        return []
    return list(dict.fromkeys(str(i) for i in frame["instrument"]))


def _record_id(row: pd.Series, person: str, family: str | None) -> str:
    pid = str(row[person])
    if family and family != person and not pid.startswith(str(row[family])):
        return f"{row[family]}-{pid}"
    return pid


def event_name(time_point: str) -> str:
    """The REDCap unique event name of a time point.

    Parameters
    ----------
    time_point : str
        The time point as the study's schedule names it.

    Returns
    -------
    str
        Lower-case, each run of other characters an underscore, ending in ``_arm_1``.

    Examples
    --------
    >>> event_name("6 weeks"), event_name("Baseline")
    ('6_weeks_arm_1', 'baseline_arm_1')
    """
    return _EVENT.sub("_", str(time_point).lower()).strip("_") + "_arm_1"


def _load(instrument_id: str) -> Any:
    return load_instrument(instrument_id)


def _library_rows(inst: Any) -> list[dict[str, str]]:
    return to_redcap_dictionary(inst, record_id=False)


def _choice_codes(inst: Any) -> dict[str, list[str]]:
    """Each item field's choice codes in option order, as the library's dictionary gives them."""
    items = {inst.column(it.number) for it in inst.items}
    return {r["Variable / Field Name"]: [c.split(",", 1)[0].strip()
                                         for c in r[_CHOICES].split(" | ")]
            for r in _library_rows(inst) if r["Variable / Field Name"] in items}


def _item_code(item: Any, codes: list[str], value: Any) -> Any:
    """A stored item score as the dictionary's choice code (the first option with that score)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return value
    for pos, score in enumerate(item.scores):
        if abs(float(score) - float(value)) <= 0.01:
            code = codes[pos]
            return value if code == _number_text(value) else code
    return value


def _number_text(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else f"{number:g}"


def _fields(inst: Any) -> list[str]:
    return [inst.column(it.number) for it in inst.items] + list(inst.output_columns)


def redcap_flat(frame: pd.DataFrame) -> pd.DataFrame:
    """The tidy table in REDCap's flat layout (one row per record and event).

    Parameters
    ----------
    frame : pandas.DataFrame
        The store's tidy assessment table (one row per assessment).

    Returns
    -------
    pandas.DataFrame
        ``record_id``, ``redcap_event_name``, then each instrument's fields (item answers
        as the codes of :func:`redcap_dictionary`) and ``<form>_complete`` (2, complete).

    Examples
    --------
    >>> from attunement.usecases.exports import export_assessments
    >>> frame = export_assessments(store, practitioner, study=study)
    >>> flat = redcap_flat(frame)
    >>> flat[["record_id", "redcap_event_name", "epds_total", "epds_complete"]]
          record_id redcap_event_name  epds_total  epds_complete
    0  N-001-mother    baseline_arm_1        12.0              2
    """
    if frame.empty:
        return pd.DataFrame(columns=["record_id", "redcap_event_name"])
    person, family = _person_column(frame), _family_column(frame)
    instruments = [_load(i) for i in _instruments(frame)]
    codes = {inst.id: _choice_codes(inst) for inst in instruments}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for _, row in frame.iterrows():
        key = (_record_id(row, person, family), event_name(row["time_point"]))
        out = rows.setdefault(key, {"record_id": key[0], "redcap_event_name": key[1]})
        inst = next(i for i in instruments if i.id == str(row["instrument"]))
        for it in inst.items:
            col = inst.column(it.number)
            if col in frame.columns:
                out[col] = _item_code(it, codes[inst.id][col], row[col])
        for col in inst.output_columns:
            if col in frame.columns:
                out[col] = row[col]
        out[f"{inst.id}_complete"] = 2
    columns = ["record_id", "redcap_event_name"]
    for inst in instruments:
        columns += [c for c in _fields(inst) if c in frame.columns] + [f"{inst.id}_complete"]
    flat = pd.DataFrame(list(rows.values()))
    return flat.reindex(columns=columns)


def redcap_dictionary(frame: pd.DataFrame) -> pd.DataFrame:
    """The REDCap data dictionary (18 columns, exact headers) of :func:`redcap_flat`.

    Parameters
    ----------
    frame : pandas.DataFrame
        The assessments as the store exports them (one row each).

    Returns
    -------
    pandas.DataFrame
        A ``record_id`` row, then each instrument's rows from
        :func:`attunement.instruments.to_redcap_dictionary`, then read-only text fields for
        the computed columns the library does not describe.

    Examples
    --------
    >>> from attunement.usecases.exports import export_assessments
    >>> frame = export_assessments(store, practitioner, study=study)
    >>> redcap_dictionary(frame)["Variable / Field Name"].head(3).tolist()
    ['record_id', 'epds_1', 'epds_2']
    """
    rows: list[dict[str, str]] = [{
        "Variable / Field Name": "record_id", "Form Name": "record",
        "Field Type": "text", "Field Label": "Record ID (pseudonymised caregiver id)",
    }]
    for inst_id in _instruments(frame):
        inst = _load(inst_id)
        described = _library_rows(inst)
        rows += described
        named = {r["Variable / Field Name"] for r in described}
        for col in inst.output_columns:
            if col not in named:
                rows.append({
                    "Variable / Field Name": col, "Form Name": inst.id, "Field Type": "text",
                    "Field Label": _output_label(inst, col), "Field Note": "Computed by attunement",
                    "Field Annotation": "@READONLY",
                })
    return pd.DataFrame([{c: r.get(c, "") for c in DICTIONARY_COLUMNS} for r in rows],
                        columns=DICTIONARY_COLUMNS)


def _code(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _output_label(inst: Any, column: str) -> str:
    suffix = column[len(inst.id) + 1:]
    for s in inst.scales:
        if s.id == suffix:
            return f"{inst.short_name} {s.label} (range {_code(s.range[0])}–{_code(s.range[1])})"
    for c in inst.cutoffs:
        if c.id == suffix:
            return f"{inst.short_name} {c.label} (1 = at or beyond the cut-off)"
    for r in inst.safety:
        if suffix == r.id:
            return f"{inst.short_name} {r.label} (1 = flagged)"
        if suffix == f"{r.id}_unanswered":
            return f"{inst.short_name} {r.label}: not answered — ask directly (1 = yes)"
    for b in inst.bands:
        if b.id == suffix:
            return f"{inst.short_name} {b.label or b.id}"
    return column


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        value = value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def fhir_bundle(frame: pd.DataFrame) -> dict[str, Any]:
    """A FHIR R4 ``Bundle`` (collection) of ``QuestionnaireResponse`` resources.

    Each resource is :func:`attunement.instruments.to_fhir_questionnaire_response` of one
    row, with the assessment id, the (pseudonymised) person as subject identifier, the time
    point as an extension and the submission time as ``authored``.

    Parameters
    ----------
    frame : pandas.DataFrame
        As for :func:`redcap_flat`.

    Returns
    -------
    dict
        The bundle, ready for ``json.dumps``.

    Examples
    --------
    A researcher's export: the subject is the caregiver's pseudonym, never a name.

    >>> from attunement.usecases.exports import export_assessments
    >>> bundle = fhir_bundle(export_assessments(store, researcher))
    >>> response = bundle["entry"][0]["resource"]
    >>> bundle["total"], response["questionnaire"], response["subject"]["identifier"]["system"]
    (1, 'urn:attunement:questionnaire:epds|1987', 'urn:attunement:person')
    >>> response["subject"]["identifier"]["value"] == "mother"
    False
    """
    entries = []
    if not frame.empty:
        person = _person_column(frame)
        defs = {i: _load(i) for i in _instruments(frame)}
        for n, (_, row) in enumerate(frame.iterrows(), start=1):
            inst = defs[str(row["instrument"])]
            answers = [_jsonable(row.get(inst.column(it.number))) for it in inst.items]
            resource: dict[str, Any] = {
                "resourceType": "QuestionnaireResponse",
                "id": str(_jsonable(row.get("assessment_id", n))),
                **to_fhir_questionnaire_response(inst, answers),
            }
            version = _jsonable(row.get("instrument_version", inst.version))
            resource["questionnaire"] = f"urn:attunement:questionnaire:{inst.id}|{version}"
            resource["subject"] = {"identifier": {"system": "urn:attunement:person",
                                                  "value": str(_jsonable(row[person]))}}
            resource["extension"] = [{"url": "urn:attunement:time-point",
                                      "valueString": str(row.get("time_point", ""))}]
            authored = row.get("submitted_at") if "submitted_at" in frame.columns else None
            if authored is not None and _jsonable(authored) is not None:
                resource["authored"] = _jsonable(authored)
            entries.append({"fullUrl": f"urn:uuid:assessment-{resource['id']}",
                            "resource": resource})
    return {"resourceType": "Bundle", "type": "collection", "total": len(entries),
            "entry": entries}
