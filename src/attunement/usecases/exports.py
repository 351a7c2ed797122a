"""Assessment exports: the columns come from the instrument definitions, the rows from the store.

An export's header is fixed before its first row: the store's fixed columns, then for each
instrument present in the actor's scope its item columns, every scoring output and one
``flag_{id}`` column per flag it can raise. Those instrument columns are read here from the
definitions (:mod:`attunement.instruments.definition`) by :func:`instrument_columns`; the
store (:mod:`attunement.store.exports`) lays them out, reads the rows in the actor's scope
chunk by chunk and writes CSV or Parquet. The web, the CLI and the export worker call these
functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attunement.store import Actor, Store
from attunement.store.exports import ExportPlan, InstrumentColumns

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["export_assessments", "export_stream", "instrument_columns", "run_export_jobs"]


def instrument_columns(instrument_id: str) -> InstrumentColumns:
    """An instrument's columns in an assessment export, with their types.

    Parameters
    ----------
    instrument_id
        The instrument's id (``"epds"``).

    Returns
    -------
    InstrumentColumns
        The item columns and every scoring output (scales as numbers, bands as text,
        cut-offs as true/false, a safety item's value and whether it was left unanswered),
        and one flag column per cut-off and safety rule.

    Raises
    ------
    UnknownInstrument
        No definition has this id.

    Examples
    --------
    >>> cols = instrument_columns("epds")
    >>> cols.names[:2], cols.names[-1] in cols.types, cols.flags[0]
    (['epds_1', 'epds_2'], True, 'flag_epds_possible_depression')
    """
    from attunement.instruments.definition import load_instrument

    inst = load_instrument(instrument_id)
    types: dict[str, str] = {c: "float64" for c in inst.item_columns}
    types.update({f"{inst.id}_{s.id}": "float64" for s in inst.scales})
    types.update({f"{inst.id}_{b.id}": "string" for b in inst.bands})
    types.update({f"{inst.id}_{c.id}": "bool" for c in inst.cutoffs})
    flags = [f"flag_{inst.id}_{c.id}" for c in inst.cutoffs]
    for r in inst.safety:
        types[f"{inst.id}_{r.id}"] = "float64"
        types[f"{inst.id}_{r.id}_unanswered"] = "bool"
        flags += [f"flag_{inst.id}_{r.id}", f"flag_{inst.id}_{r.id}_unanswered"]
    return InstrumentColumns([*inst.item_columns, *inst.output_columns], types, flags)


def export_assessments(store: Store, actor: Actor, *, study: int | None = None,
                       pseudonymise: bool | None = None) -> pd.DataFrame:
    """The actor's assessments as one table in memory (one row per current assessment).

    Parameters
    ----------
    store, actor
        The open store and whose families (their scope).
    study
        Only this study's families.
    pseudonymise
        None: as the actor's role allows (researchers always get pseudonyms and days from the
        due date instead of dates); True for a pseudonymised export.

    Returns
    -------
    pandas.DataFrame
        See :meth:`attunement.store.exports.Exports.export_assessments`.

    Examples
    --------
    A researcher's export is pseudonymised: the family's code is replaced.

    >>> frame = export_assessments(store, researcher)
    >>> frame.columns[:3].tolist(), len(frame), frame["family"][0] == "N-001"
    (['site', 'study', 'family'], 1, False)
    """
    return store.exports.export_assessments(actor, study=study, pseudonymise=pseudonymise,
                                            instrument_columns=instrument_columns)


def export_stream(store: Store, actor: Actor, *, fmt: str = "csv", study: int | None = None,
                  pseudonymise: bool | None = None,
                  chunk: int = 5_000) -> tuple[ExportPlan, Iterator[bytes]]:
    """The actor's assessments as CSV or Parquet bytes, streamed in chunks (bounded memory).

    Parameters
    ----------
    store, actor
        The open store and whose families.
    fmt
        ``csv`` or ``parquet``.
    study, pseudonymise
        As for :func:`export_assessments`.
    chunk
        Rows read and written at a time.

    Returns
    -------
    tuple
        The export's plan (header, types, and the rows written so far) and its bytes; the
        export is audited when the bytes end, even when a download is cut off.

    Examples
    --------
    >>> plan, body = export_stream(store, admin, fmt="csv")
    >>> saved = tmp_path / "export.csv"
    >>> with saved.open("wb") as out:
    ...     out.writelines(body)
    >>> plan.rows, saved.read_text().splitlines()[1].split(",")[:3]
    (1, ['North', 'Attach-1', 'N-001'])
    """
    return store.exports.export_stream(actor, fmt=fmt, study=study, pseudonymise=pseudonymise,
                                       chunk=chunk, instrument_columns=instrument_columns)


def run_export_jobs(store: Store, worker: str | None = None, *, directory: Path | None = None,
                    limit: int | None = None, chunk: int = 20_000) -> list[dict[str, Any]]:
    """Write the files of queued export jobs, each as its requester would export it.

    Parameters
    ----------
    store
        The open store.
    worker
        This worker's name (default: host and process id).
    directory
        Where the files go (default: the store's export directory).
    limit
        At most this many jobs.
    chunk
        Rows written at a time.

    Returns
    -------
    list of dict
        The jobs as they ended (``done`` or ``failed`` with the reason).

    Examples
    --------
    >>> job = store.export_jobs.request(practitioner, fmt="csv")
    >>> [(j["id"] == job["id"], j["status"], j["rows_done"]) for j in run_export_jobs(store)]
    [(True, 'done', 1)]
    """
    return store.export_jobs.run_pending(worker, directory=directory, limit=limit, chunk=chunk,
                                         instrument_columns=instrument_columns)
