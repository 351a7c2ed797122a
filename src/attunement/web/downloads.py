"""Downloads: the store's tidy assessment table (one row per assessment) as an HTTP file.

- ``csv`` / ``parquet``: the tidy table as the store returns it (scores and flags as columns);
- ``redcap`` / ``redcap-dictionary``, ``fhir``: built by
  :mod:`attunement.usecases.instrument_exports` (the instrument library's REDCap and FHIR
  exports);
- ``json``: the tidy table as JSON records.

The store has already pseudonymised the table for researchers; these functions only reshape.
Also the care cascade as CSV.
"""

from __future__ import annotations

import io
import json
from typing import Any, Literal

import pandas as pd
from fastapi.responses import Response, StreamingResponse

from attunement.cascade import CascadeResult, cascade_csv
from attunement.csvsafe import safe_frame
from attunement.usecases import exports as uc_exports
from attunement.usecases.instrument_exports import fhir_bundle, redcap_dictionary, redcap_flat

Format = Literal["csv", "parquet", "redcap", "redcap-dictionary", "fhir", "json"]
FORMATS: dict[str, str] = {
    "csv": "Tidy CSV (one row per assessment)",
    "parquet": "Parquet (one row per assessment)",
    "redcap": "REDCap flat CSV (one row per record and event)",
    "redcap-dictionary": "REDCap data dictionary CSV (matches the flat export)",
    "fhir": "FHIR R4 QuestionnaireResponse bundle (JSON)",
    "json": "JSON records",
}

def response(frame: pd.DataFrame, fmt: str) -> Response:
    """An HTTP download of the tidy assessment table in one of the export formats.

    Parameters
    ----------
    frame : pandas.DataFrame
        The store's tidy assessment table (already pseudonymised for researchers).
    fmt : str
        One of :data:`FORMATS`: ``csv``, ``parquet``, ``redcap``, ``redcap-dictionary``,
        ``fhir`` or ``json``.

    Returns
    -------
    fastapi.Response
        The file as an attachment with its media type.

    Raises
    ------
    ValueError
        An unknown format.
    """
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
    """A CSV or Parquet download streamed from the store chunk by chunk, in bounded memory.

    Scope and role are checked before the response starts.

    Parameters
    ----------
    store : Store
        The open store.
    actor : Actor
        Who downloads.
    fmt : str
        ``"csv"`` or ``"parquet"``.
    study : int or None
        One study only, or all the actor's.
    pseudonymise : bool or None
        Ask for pseudonymised data (researchers always get it).

    Returns
    -------
    fastapi.responses.StreamingResponse
        The file as an attachment.
    """
    media_type, filename = STREAMED[fmt]
    _, body = uc_exports.export_stream(store, actor, fmt=fmt, study=study, pseudonymise=pseudonymise)
    return StreamingResponse(body, media_type=media_type,
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _download(body: str | bytes, media_type: str, filename: str) -> Response:
    return Response(body, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def cascade_csv_response(result: CascadeResult) -> Response:
    """The care cascade as a CSV download (text cells neutralised against formula injection).

    Parameters
    ----------
    result : CascadeResult
        The cascade, as :func:`attunement.usecases.cascade.cascade_report` computes it.

    Returns
    -------
    fastapi.Response
        ``cascade.csv`` as an attachment.
    """
    return Response(cascade_csv(result), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="cascade.csv"'})

