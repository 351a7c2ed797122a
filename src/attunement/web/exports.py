"""Export formats built from the store's tidy assessment table (one row per assessment).

- ``csv`` / ``parquet``: the tidy table as the store returns it (scores and flags as columns);
- ``redcap``: REDCap's "flat" record layout (one row per record per event, ``record_id``,
  ``redcap_event_name``, then each form's fields in dictionary order ending in
  ``<form>_complete``), with ``redcap-dictionary`` its 18-column data dictionary;
- ``fhir``: a FHIR R4 Bundle (type collection) of QuestionnaireResponse resources;
- ``json``: the tidy table as JSON records.

The store has already pseudonymised the table for researchers; these functions only reshape.
"""

from __future__ import annotations

import io
import json
import math
import re
from typing import Any, Literal

import pandas as pd
from fastapi.responses import Response, StreamingResponse

from attunement.csvsafe import safe_frame

Format = Literal["csv", "parquet", "redcap", "redcap-dictionary", "fhir", "json"]
FORMATS: dict[str, str] = {
    "csv": "Tidy CSV (one row per assessment)",
    "parquet": "Parquet (one row per assessment)",
    "redcap": "REDCap flat CSV (one row per record and event)",
    "redcap-dictionary": "REDCap data dictionary CSV (matches the flat export)",
    "fhir": "FHIR R4 QuestionnaireResponse bundle (JSON)",
    "json": "JSON records",
}

DICTIONARY_COLUMNS = [
    "Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
    "Choices, Calculations, OR Slider Labels", "Field Note",
    "Text Validation Type OR Show Slider Number", "Text Validation Min", "Text Validation Max",
    "Identifier?", "Branching Logic (Show field only if...)", "Required Field?",
    "Custom Alignment", "Question Number (surveys only)", "Matrix Group Name", "Matrix Ranking?",
    "Field Annotation",
]
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


def _load(instrument_id: str) -> Any:
    from attunement.instruments.definition import load_instrument

    return load_instrument(instrument_id)


def _record_id(row: pd.Series, person: str, family: str | None) -> str:
    pid = str(row[person])
    if family and family != person and not pid.startswith(str(row[family])):
        return f"{row[family]}-{pid}"
    return pid


def event_name(time_point: str) -> str:
    """A REDCap unique event name: lower-case, underscores, ``_arm_1``."""
    return _EVENT.sub("_", str(time_point).lower()).strip("_") + "_arm_1"


def _fields(inst: Any) -> list[str]:
    return [inst.column(it.number) for it in inst.items] + [
        c for c in inst.output_columns
    ]


def redcap_flat(frame: pd.DataFrame) -> pd.DataFrame:
    """The tidy table in REDCap's flat layout (raw codes; one row per record and event)."""
    if frame.empty:
        return pd.DataFrame(columns=["record_id", "redcap_event_name"])
    person, family = _person_column(frame), _family_column(frame)
    instruments = [_load(i) for i in _instruments(frame)]
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for _, row in frame.iterrows():
        key = (_record_id(row, person, family), event_name(row["time_point"]))
        out = rows.setdefault(key, {"record_id": key[0], "redcap_event_name": key[1]})
        inst = next(i for i in instruments if i.id == str(row["instrument"]))
        for col in _fields(inst):
            if col in frame.columns:
                out[col] = row[col]
        out[f"{inst.id}_complete"] = 2
    columns = ["record_id", "redcap_event_name"]
    for inst in instruments:
        columns += [c for c in _fields(inst) if c in frame.columns] + [f"{inst.id}_complete"]
    flat = pd.DataFrame(list(rows.values()))
    return flat.reindex(columns=columns)


def redcap_dictionary(frame: pd.DataFrame) -> pd.DataFrame:
    """The data dictionary (18 columns, exact REDCap headers) of :func:`redcap_flat`."""
    rows: list[dict[str, str]] = [{
        "Variable / Field Name": "record_id", "Form Name": "record",
        "Field Type": "text", "Field Label": "Record ID (pseudonymised caregiver id)",
    }]
    for inst_id in _instruments(frame):
        inst = _load(inst_id)
        first = True
        for position, number in enumerate(inst.form_order(), start=1):
            item = inst.item(number)
            choices = " | ".join(
                f"{_code(s)}, {item.option_labels[k] if k < len(item.option_labels) else f'Option {k + 1}'}"
                for k, s in enumerate(item.scores)
            )
            rows.append({
                "Variable / Field Name": inst.column(number), "Form Name": inst.id,
                "Section Header": f"{inst.name} (version {inst.version})" if first else "",
                "Field Type": "radio", "Field Label": item.label, "Choices, Calculations, OR Slider Labels": choices,
                "Field Note": "Project's short label; load the licensed wording separately.",
                "Required Field?": "" if item.optional else "y",
                "Question Number (surveys only)": str(position),
                "Field Annotation": "@SAFETY" if number in inst.safety_items else "",
            })
            first = False
        for col in inst.output_columns:
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
    """A FHIR R4 ``Bundle`` (collection) of ``QuestionnaireResponse`` resources."""
    entries = []
    if not frame.empty:
        person = _person_column(frame)
        defs = {i: _load(i) for i in _instruments(frame)}
        for n, (_, row) in enumerate(frame.iterrows(), start=1):
            inst = defs[str(row["instrument"])]
            items = []
            for it in inst.items:
                col = inst.column(it.number)
                value = _jsonable(row.get(col))
                item: dict[str, Any] = {"linkId": col, "text": it.label}
                if value is not None:
                    key = "valueInteger" if float(value).is_integer() else "valueDecimal"
                    item["answer"] = [{key: int(value) if key == "valueInteger" else value}]
                items.append(item)
            resource: dict[str, Any] = {
                "resourceType": "QuestionnaireResponse",
                "id": str(_jsonable(row.get("assessment_id", n))),
                "questionnaire": f"urn:attunement:questionnaire:{inst.id}|{_jsonable(row.get('instrument_version', inst.version))}",
                "status": "completed",
                "subject": {"identifier": {"system": "urn:attunement:person",
                                           "value": str(_jsonable(row[person]))}},
                "item": items,
                "extension": [{"url": "urn:attunement:time-point",
                               "valueString": str(row.get("time_point", ""))}],
            }
            authored = row.get("submitted_at") if "submitted_at" in frame.columns else None
            if authored is not None and _jsonable(authored) is not None:
                resource["authored"] = _jsonable(authored)
            entries.append({"fullUrl": f"urn:uuid:assessment-{resource['id']}",
                            "resource": resource})
    return {"resourceType": "Bundle", "type": "collection", "total": len(entries),
            "entry": entries}


def response(frame: pd.DataFrame, fmt: str) -> Response:
    """An HTTP download of ``frame`` in format ``fmt``."""
    if fmt == "csv":
        return _download(safe_frame(frame).to_csv(index=False), "text/csv", "assessments.csv")
    if fmt == "parquet":
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        return _download(buf.getvalue(), "application/vnd.apache.parquet", "assessments.parquet")
    if fmt == "redcap":
        return _download(safe_frame(redcap_flat(frame)).to_csv(index=False), "text/csv",
                         "assessments_redcap.csv")
    if fmt == "redcap-dictionary":
        return _download(safe_frame(redcap_dictionary(frame)).to_csv(index=False), "text/csv",
                         "redcap_data_dictionary.csv")
    if fmt == "fhir":
        return _download(json.dumps(fhir_bundle(frame), indent=1), "application/fhir+json",
                         "questionnaire_responses.json")
    if fmt == "json":
        body = frame.to_json(orient="records", date_format="iso")
        return _download(body, "application/json", "assessments.json")
    raise ValueError(f"unknown export format {fmt!r}")


STREAMED = {"csv": ("text/csv", "assessments.csv"),
            "parquet": ("application/vnd.apache.parquet", "assessments.parquet")}


def streamed(store: Any, actor: Any, fmt: str, *, study: int | None,
             pseudonymise: bool | None) -> Response:
    """A CSV or Parquet download streamed from the store chunk by chunk (bounded memory);
    scope and role are checked before the response starts."""
    media_type, filename = STREAMED[fmt]
    _, body = store.exports.export_stream(actor, fmt=fmt, study=study, pseudonymise=pseudonymise)
    return StreamingResponse(body, media_type=media_type,
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _download(body: str | bytes, media_type: str, filename: str) -> Response:
    return Response(body, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
