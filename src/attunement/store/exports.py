"""Streaming assessment exports: rows come from a server-side cursor in chunks and
leave as CSV text or Parquet row groups, so memory stays bounded whatever the export's size.

The query joins the actor's scope (never a list of family ids in its text), skips versions
that were corrected, and reads only the columns the export needs. The header is fixed before the first row from the instruments' definitions (items,
every scoring output, one ``flag_{id}`` column per flag the instrument can raise), so every
chunk has the same columns; a stored value that has no column is an error naming the
assessment, never dropped. Exports read from ``ATTUNEMENT_REPLICA_URL`` when it is set (a
read replica of the same database).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Text, and_, cast, select

from attunement import policy
from attunement.policy import Action
from attunement.store import audit, export_csv
from attunement.store.core import Core
from attunement.store.errors import Forbidden, StoreValidationError
from attunement.store.export_chunks import ChunkBuilder
from attunement.store.models import Assessment, Caregiver, Family, Identity, Infant, Site, Study
from attunement.store.scope import family_filter

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from attunement.store.crypto import KeyRing
    from attunement.store.db import Database
    from attunement.store.scope import Actor

CHUNK = 5_000
REPLICA_ENV = "ATTUNEMENT_REPLICA_URL"
PSEUDO_COLUMNS = ("site", "study", "family", "caregiver", "day_from_due_date", "infant_age_days")
CLINICAL_COLUMNS = (
    "site", "study", "family", "caregiver", "completed_on", "submitted_at", "infant_due_date",
    "infant_date_of_birth",
)
COMMON_COLUMNS = (
    "caregiver_role", "caregiver_age", "instrument", "instrument_version", "time_point",
    "instance", "version", "input", "submitted_via", "gestational_age_at_birth_weeks",
)
FIXED = {*PSEUDO_COLUMNS, *CLINICAL_COLUMNS, *COMMON_COLUMNS}
# Parquet types of the fixed columns (the instruments' columns are typed from their definition)
_TYPES = {
    "day_from_due_date": "int64", "infant_age_days": "int64", "caregiver_age": "int64",
    "instance": "int64", "version": "int64", "gestational_age_at_birth_weeks": "float64",
}


@dataclass
class ExportPlan:
    """The header and types of one export, fixed before its first row.

    Parameters
    ----------
    columns
        The header, in order.
    types
        The values' types (the chunks' Arrow schema, and the CSV's text); a column not named
        is text.
    rows
        How many rows have been written so far.
    stored_as
        The Parquet type of a column stored otherwise: a safety rule's ``_unanswered``
        column holds booleans but has always been float64 (0/1) in Parquet.

    Examples
    --------
    >>> export = ExportPlan(["family", "epds_total"], {"epds_total": "float64"})
    >>> export.schema().types
    [DataType(string), DataType(double)]
    """

    columns: list[str]
    types: dict[str, str] = field(default_factory=dict)
    rows: int = 0
    stored_as: dict[str, str] = field(default_factory=dict)

    def schema(self, *, parquet: bool = False) -> Any:
        """The pyarrow schema of the export's chunks, or of its Parquet file.

        Parameters
        ----------
        parquet
            The Parquet file's types (``stored_as`` applied).

        Returns
        -------
        pyarrow.Schema
            One field per column.
        """
        import pyarrow as pa

        kinds = {"int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_(),
                 "int8": pa.int8(), "string": pa.string()}
        types = {**self.types, **self.stored_as} if parquet else self.types
        return pa.schema([(c, kinds[types.get(c, "string")]) for c in self.columns])


@dataclass(frozen=True)
class InstrumentColumns:
    """One instrument's columns in an export, from its definition.

    The use case builds them (:func:`attunement.usecases.exports.instrument_columns`); the
    store only lays them out, so an export's header is fixed before its first row.

    Parameters
    ----------
    names
        The item columns, then every scoring output, in the definition's order.
    types
        The value type of each column: ``float64``, ``string``, ``bool``.
    flags
        One ``flag_{id}`` column per flag the instrument can raise (0/1 in the export).

    Examples
    --------
    >>> cols = InstrumentColumns(["epds_1", "epds_total"], {"epds_total": "float64"},
    ...                          ["flag_epds_possible_depression"])
    >>> cols.names + cols.flags
    ['epds_1', 'epds_total', 'flag_epds_possible_depression']
    """

    names: list[str]
    types: dict[str, str]
    flags: list[str]


# an instrument's export columns by its id (attunement.usecases.exports.instrument_columns)
ColumnsOf = Callable[[str], InstrumentColumns]


def export_database(primary: Database) -> Database:
    """The database exports read: the replica named by ``ATTUNEMENT_REPLICA_URL`` if set.

    Parameters
    ----------
    primary
        The store's own database.

    Returns
    -------
    Database
        The replica (opened once and kept), else ``primary``.

    Examples
    --------
    >>> export_database(store.db) is store.db
    True
    """
    url = os.environ.get(REPLICA_ENV, "").strip()
    if not url:
        return primary
    cached = getattr(primary, "_replica", None)
    if cached is None or cached.url != url:
        from attunement.store.db import Database

        cached = Database(url)
        primary._replica = cached  # type: ignore[attr-defined]
    return cached


def _statement(actor: Actor, study: int | None, *, pseudonymise: bool) -> Any:
    a, f, c = Assessment.__table__.c, Family.__table__.c, Caregiver.__table__.c
    i, ident = Infant.__table__.c, Identity.__table__.c
    # only an identified export shows the submission time (converting it to an aware
    # datetime was a tenth of a pseudonymised export's time)
    identified = () if pseudonymise else (a.submitted_at,)
    stmt = (
        select(
            a.id, a.family_id, a.caregiver_id, a.instrument, a.instrument_version,
            a.time_point, a.instance, a.version, a.input_kind, a.submitted_via,
            a.completed_on, *identified,
            # as text, decoded a chunk at a time in one call (:mod:`.export_chunks`)
            cast(a.item_scores, Text).label("item_scores"), cast(a.scores, Text).label("scores"),
            cast(a.flags, Text).label("flags"),
            f.site_id, f.study_id, f.code, c.key, c.role, c.age,
            i.id.label("infant_id"), i.due_date, i.gestation_weeks, ident.ciphertext,
        )
        .select_from(Assessment)
        .join(Family, Family.id == Assessment.family_id)
        .join(Caregiver, Caregiver.id == Assessment.caregiver_id)
        .outerjoin(Infant, Infant.family_id == Family.id)
        .outerjoin(Identity, and_(Identity.subject_kind == "infant",
                                  Identity.subject_id == Infant.id))
        .where(family_filter(actor))
        .order_by(Assessment.id)
    )
    if study is not None:
        stmt = stmt.where(Family.study_id == int(study))
    return stmt


def _superseded(s: Any, actor: Actor, study: int | None) -> set[int]:
    """Ids of corrected versions in scope (corrections are rare: a small set). A correlated
    ``NOT EXISTS`` has no index to use on SQLite and made the export quadratic."""
    stmt = (select(Assessment.corrected_from)
            .join(Family, Family.id == Assessment.family_id)
            .where(Assessment.corrected_from.is_not(None), family_filter(actor)))
    if study is not None:
        stmt = stmt.where(Family.study_id == int(study))
    return set(s.execute(stmt).scalars())


def count_rows(s: Any, actor: Actor, study: int | None) -> int:
    """How many rows an export of the actor's scope holds (current versions only).

    Parameters
    ----------
    s
        The open session.
    actor
        Whose families: those of their sites and studies only, as the export itself.
    study
        Only this study's families, or None.

    Returns
    -------
    int
        The number of current assessments.

    Examples
    --------
    >>> with store.db.read() as session:
    ...     count_rows(session, admin, None)
    1
    """
    from sqlalchemy import func

    stmt = (select(func.count()).select_from(Assessment)
            .join(Family, Family.id == Assessment.family_id).where(family_filter(actor)))
    if study is not None:
        stmt = stmt.where(Family.study_id == int(study))
    return int(s.execute(stmt).scalar_one()) - len(_superseded(s, actor, study))


def plan(db: Database, actor: Actor, *, study: int | None, pseudonymise: bool,
         instrument_columns: ColumnsOf) -> ExportPlan:
    """The export's header and column types, fixed before its first row.

    Parameters
    ----------
    db
        The database the export reads.
    actor
        Whose families the export holds (their scope).
    study
        Only this study's families, or None for every family in scope.
    pseudonymise
        Pseudonymised columns (days from the due date) instead of identified ones (dates).
    instrument_columns
        The columns of an instrument, by its id.

    Returns
    -------
    ExportPlan
        The fixed columns, then each instrument present in scope (in id order), then the
        flag columns.

    Examples
    --------
    >>> from attunement.usecases.exports import instrument_columns
    >>> plan(store.db, admin, study=None, pseudonymise=True,
    ...      instrument_columns=instrument_columns).columns[:3]
    ['site', 'study', 'family']
    """
    base = PSEUDO_COLUMNS if pseudonymise else CLINICAL_COLUMNS
    with db.read() as s:
        stmt = (select(Assessment.instrument).distinct()
                .join(Family, Family.id == Assessment.family_id).where(family_filter(actor)))
        if study is not None:
            stmt = stmt.where(Family.study_id == int(study))
        instruments = sorted(s.execute(stmt).scalars())
    columns, types, flags = [*base, *COMMON_COLUMNS], dict(_TYPES), []
    for inst in instruments:
        cols = instrument_columns(inst)
        columns += cols.names
        types.update(cols.types)
        flags += cols.flags
    types.update({f: "int8" for f in flags})
    stored_as = {c: "float64" for c in columns if c.endswith("_unanswered") and types.get(c) == "bool"}
    return ExportPlan(columns + flags, types, stored_as=stored_as)


def chunks(
    db: Database,
    actor: Actor,
    export: ExportPlan,
    *,
    study: int | None,
    keys: KeyRing,
    pseudonymise: bool,
    chunk: int = CHUNK,
) -> Iterator[pa.Table]:
    """The export's rows as Arrow tables of at most ``chunk`` rows with the export's schema,
    read from a server-side cursor.

    Parameters
    ----------
    db
        The database read (:func:`export_database`).
    actor
        Whose families.
    export
        The plan (:func:`plan`); its ``rows`` count grows as tables are yielded.
    study
        Only this study's families, or None.
    keys
        The key ring (dates of birth, keyed pseudonyms).
    pseudonymise
        Pseudonyms and days instead of codes and dates.
    chunk
        Rows per table.

    Yields
    ------
    pyarrow.Table
        The next chunk.

    Examples
    --------
    >>> from attunement.usecases.exports import instrument_columns
    >>> export = plan(store.db, admin, study=None, pseudonymise=True,
    ...               instrument_columns=instrument_columns)
    >>> sum(t.num_rows for t in chunks(store.db, admin, export, study=None,
    ...     keys=store.core.keyring(), pseudonymise=True))
    1
    """
    with db.read() as s:
        sites = {x.id: x.name for x in s.execute(select(Site)).scalars()}
        studies = {x.id: x.name for x in s.execute(select(Study)).scalars()}
        superseded = _superseded(s, actor, study)
        build = ChunkBuilder(export.schema(), fixed=FIXED, keys=keys,
                             pseudonymise=pseudonymise, sites=sites, studies=studies)
        # on the session's connection: plain rows, no ORM result processing
        result = s.connection().execute(
            _statement(actor, study, pseudonymise=pseudonymise).execution_options(
                stream_results=True, yield_per=chunk))
        names = list(result.keys())
        for rows in result.partitions(chunk):
            if superseded:
                rows = [r for r in rows if r.id not in superseded]
            columns = zip(*rows, strict=True)  # the chunk's columns, each a tuple
            table = build.table(dict(zip(names, columns, strict=True)) if rows else {},
                                len(rows))
            export.rows += table.num_rows
            yield table


def csv_bytes(export: ExportPlan, tables: Iterator[pa.Table]) -> Iterator[bytes]:
    """The export as CSV, chunk by chunk: the header first (even with no rows), text cells
    neutralised against formula injection (:mod:`attunement.csvsafe`); the text is pandas'
    ``to_csv`` of the same typed table (:mod:`attunement.store.export_csv`).

    Parameters
    ----------
    export
        The plan (its header).
    tables
        The chunks.

    Yields
    ------
    bytes
        The header line, then each chunk's rows.

    Examples
    --------
    >>> import pyarrow as pa
    >>> export = ExportPlan(["site", "epds_total"], {"epds_total": "float64"})
    >>> table = pa.table({"site": ["=North"], "epds_total": [12.0]}, schema=export.schema())
    >>> b"".join(csv_bytes(export, iter([table]))).decode().splitlines()
    ['site,epds_total', "'=North,12.0"]
    """
    yield export_csv.header(export.columns)
    for table in tables:
        yield export_csv.rows(table)


class _Sink:
    """A write-only file for ParquetWriter that hands its bytes out as they are written."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.pos = 0
        self.closed = False

    def write(self, data: Any) -> int:
        b = bytes(data)
        self.parts.append(b)
        self.pos += len(b)
        return len(b)

    def tell(self) -> int:
        return self.pos

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


def parquet_bytes(export: ExportPlan, tables: Iterator[pa.Table]) -> Iterator[bytes]:
    """The export as Parquet, one row group per chunk (pyarrow's ParquetWriter).

    Parameters
    ----------
    export
        The plan (its Parquet schema).
    tables
        The chunks.

    Yields
    ------
    bytes
        The file's bytes as each row group is written, then its footer.

    Examples
    --------
    >>> import io, pyarrow as pa, pyarrow.parquet as pq
    >>> export = ExportPlan(["epds_total"], {"epds_total": "float64"})
    >>> tables = [pa.table({"epds_total": [1.0, 2.0]}), pa.table({"epds_total": [3.0]})]
    >>> data = b"".join(parquet_bytes(export, iter(tables)))
    >>> pq.ParquetFile(io.BytesIO(data)).metadata.num_row_groups
    2
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = _Sink()
    schema = export.schema(parquet=True)
    writer = pq.ParquetWriter(pa.PythonFile(sink, mode="w"), schema)
    try:
        for table in tables:
            writer.write_table(table.cast(schema))
            yield sink.take()
    finally:
        writer.close()
    yield sink.take()


class Exports:
    """Assessment exports of the actor's families, in memory or streamed chunk by chunk.

    Each method takes the instruments' columns (``instrument_columns``) from the use case
    (:mod:`attunement.usecases.exports`), which the web, the CLI and the export worker call.

    Parameters
    ----------
    core
        The store's core (database, key ring, audit).

    Examples
    --------
    >>> from attunement.usecases.exports import instrument_columns
    >>> frame = store.exports.export_assessments(
    ...     admin, instrument_columns=instrument_columns)
    >>> frame[["family", "caregiver", "instrument", "epds_total"]].to_dict("records")
    [{'family': 'N-001', 'caregiver': 'mother', 'instrument': 'epds', 'epds_total': 12.0}]
    """

    def __init__(self, core: Core) -> None:
        self.core = core

    def export_assessments(
        self, actor: Actor, *, instrument_columns: ColumnsOf, study: int | None = None,
        pseudonymise: bool | None = None,
    ) -> pd.DataFrame:
        """One row per current assessment, in memory: ids, instrument, time point, keyed item
        scores (``{instrument}_{n}``), every score, and one 0/1 column per flag
        (``flag_{id}``).

        Pseudonymised (always for researchers): per-study keyed-hash ids for family and
        caregiver, no identifiers, no dates: ``day_from_due_date`` and ``infant_age_days``
        instead. Clinical roles get family ids and dates unless ``pseudonymise=True``.
        For large exports use :meth:`export_stream`.

        Parameters
        ----------
        actor
            Whose families (their scope).
        instrument_columns
            An instrument's columns by its id
            (:func:`attunement.usecases.exports.instrument_columns`).
        study
            Only this study's families.
        pseudonymise
            None: as the actor's role allows; True for a pseudonymised export.

        Returns
        -------
        pandas.DataFrame
            The export; an instrument's columns appear when some row has a value there.

        Raises
        ------
        Forbidden
            An identified export asked for by a role that may not have one.
        """
        import pyarrow as pa

        export, tables = self._export_tables(actor, study=study, pseudonymise=pseudonymise,
                                             instrument_columns=instrument_columns)
        df = pa.concat_tables([export.schema().empty_table(), *tables]).to_pandas()
        # as before streaming: an instrument's columns (items, scores, flags) appear when some
        # row has a value there; the fixed columns are always there
        empty = [c for c in df.columns if c not in FIXED and (
            not df[c].any() if c.startswith("flag_") else df[c].isna().all())]
        return df.drop(columns=empty)

    def export_stream(
        self,
        actor: Actor,
        *,
        instrument_columns: ColumnsOf,
        fmt: str = "csv",
        study: int | None = None,
        pseudonymise: bool | None = None,
        chunk: int = 5_000,
    ) -> tuple[ExportPlan, Iterator[bytes]]:
        """The export as CSV or Parquet bytes, streamed from a server-side cursor chunk by
        chunk (bounded memory); its audit row is written when it ends, even if cut off.

        Parameters
        ----------
        actor
            Whose families (their scope).
        instrument_columns
            An instrument's columns by its id.
        fmt
            ``csv`` or ``parquet``.
        study, pseudonymise
            As for :meth:`export_assessments`.
        chunk
            Rows per chunk (a Parquet row group).

        Returns
        -------
        tuple
            The plan (its ``rows`` count grows as the bytes are read) and the bytes.
        """
        if fmt not in ("csv", "parquet"):
            raise StoreValidationError("format", f"{fmt!r} cannot be streamed (csv or parquet)")
        export, tables = self._export_tables(
            actor, study=study, pseudonymise=pseudonymise, chunk=chunk,
            instrument_columns=instrument_columns)
        writer = csv_bytes if fmt == "csv" else parquet_bytes
        return export, writer(export, tables)

    def _export_tables(
        self,
        actor: Actor,
        *,
        study: int | None,
        pseudonymise: bool | None,
        instrument_columns: ColumnsOf,
        chunk: int = 5_000,
    ) -> tuple[ExportPlan, Iterator[pa.Table]]:
        if pseudonymise is None:
            pseudonymise = not policy.allows(actor, Action.EXPORT_IDENTIFIED)
        if not pseudonymise and not policy.allows(actor, Action.EXPORT_IDENTIFIED):
            raise Forbidden("researchers receive pseudonymised exports only")
        db = export_database(self.core.db)
        export = plan(db, actor, study=study, pseudonymise=pseudonymise,
                      instrument_columns=instrument_columns)
        keys = self.core.keyring()

        def tables() -> Iterator[pa.Table]:
            complete = False
            try:
                yield from chunks(db, actor, export, study=study, keys=keys,
                                  pseudonymise=pseudonymise, chunk=chunk)
                complete = True
            finally:
                # audited even when the download is cut off
                after = {"rows": export.rows, "study": study, "pseudonymised": pseudonymise}
                if not complete:
                    after["complete"] = False
                with self.core.db.write() as s:
                    audit.append(s, actor=actor, action="export", entity="assessments",
                                 after=after)

        return export, tables()
