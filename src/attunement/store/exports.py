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

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import Text, and_, cast, select

from attunement import policy
from attunement.policy import Action
from attunement.store import audit
from attunement.store.core import Core
from attunement.store.errors import Forbidden, StoreError, StoreValidationError
from attunement.store.models import Assessment, Caregiver, Family, Identity, Infant, Site, Study
from attunement.store.scope import family_filter

if TYPE_CHECKING:
    import pandas as pd

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
# Parquet types of the fixed columns (the instruments' columns are typed from their definition)
_TYPES = {
    "day_from_due_date": "int64", "infant_age_days": "int64", "caregiver_age": "int64",
    "instance": "int64", "version": "int64", "gestational_age_at_birth_weeks": "float64",
}


@dataclass
class ExportPlan:
    """The header and Parquet types of one export, fixed before its first row."""

    columns: list[str]
    types: dict[str, str] = field(default_factory=dict)
    rows: int = 0

    def schema(self) -> Any:
        """The pyarrow schema of the export."""
        import pyarrow as pa

        kinds = {"int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_(),
                 "int8": pa.int8(), "string": pa.string()}
        return pa.schema([(c, kinds[self.types.get(c, "string")]) for c in self.columns])


def _instrument_columns(instrument_id: str) -> tuple[list[str], dict[str, str], list[str]]:
    """Item and scoring columns (with their types) and flag columns of one instrument."""
    from attunement.instruments.definition import load_instrument

    inst = load_instrument(instrument_id)
    types: dict[str, str] = {c: "float64" for c in inst.item_columns}
    types.update({f"{inst.id}_{s.id}": "float64" for s in inst.scales})
    types.update({f"{inst.id}_{b.id}": "string" for b in inst.bands})
    types.update({f"{inst.id}_{c.id}": "bool" for c in inst.cutoffs})
    flags = [f"flag_{inst.id}_{c.id}" for c in inst.cutoffs]
    for r in inst.safety:
        types[f"{inst.id}_{r.id}"] = "float64"
        types[f"{inst.id}_{r.id}_unanswered"] = "float64"
        flags += [f"flag_{inst.id}_{r.id}", f"flag_{inst.id}_{r.id}_unanswered"]
    return [*inst.item_columns, *inst.output_columns], types, flags


def export_database(primary: Database) -> Database:
    """The database exports read: the replica named by ``ATTUNEMENT_REPLICA_URL`` if set."""
    url = os.environ.get(REPLICA_ENV, "").strip()
    if not url:
        return primary
    cached = getattr(primary, "_replica", None)
    if cached is None or cached.url != url:
        from attunement.store.db import Database

        cached = Database(url)
        primary._replica = cached  # type: ignore[attr-defined]
    return cached


def _statement(actor: Actor, study: int | None) -> Any:
    a, f, c = Assessment.__table__.c, Family.__table__.c, Caregiver.__table__.c
    i, ident = Infant.__table__.c, Identity.__table__.c
    stmt = (
        select(
            a.id, a.family_id, a.caregiver_id, a.instrument, a.instrument_version,
            a.time_point, a.instance, a.version, a.input_kind, a.submitted_via,
            a.completed_on, a.submitted_at,
            # as text, decoded a chunk at a time in one call (:func:`_decode`)
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


def _decode(texts: list[str | None]) -> list[Any]:
    """JSON texts decoded in one ``json.loads`` call (one array) instead of one call each:
    the same values, a fraction of the per-call cost over a chunk."""
    return json.loads("[" + ",".join("null" if t is None else t for t in texts) + "]")


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
    """How many rows the export of ``actor``'s scope has (current versions only)."""
    from sqlalchemy import func

    stmt = (select(func.count()).select_from(Assessment)
            .join(Family, Family.id == Assessment.family_id).where(family_filter(actor)))
    if study is not None:
        stmt = stmt.where(Family.study_id == int(study))
    return int(s.execute(stmt).scalar_one()) - len(_superseded(s, actor, study))


def plan(db: Database, actor: Actor, *, study: int | None, pseudonymise: bool) -> ExportPlan:
    """The export's columns: the fixed ones, then each instrument present (in id order)."""
    base = PSEUDO_COLUMNS if pseudonymise else CLINICAL_COLUMNS
    with db.read() as s:
        stmt = (select(Assessment.instrument).distinct()
                .join(Family, Family.id == Assessment.family_id).where(family_filter(actor)))
        if study is not None:
            stmt = stmt.where(Family.study_id == int(study))
        instruments = sorted(s.execute(stmt).scalars())
    columns, types, flags = [*base, *COMMON_COLUMNS], dict(_TYPES), []
    for inst in instruments:
        cols, kinds, inst_flags = _instrument_columns(inst)
        columns += cols
        types.update(kinds)
        flags += inst_flags
    types.update({f: "int8" for f in flags})
    return ExportPlan(columns + flags, types)


def chunks(
    db: Database,
    actor: Actor,
    export: ExportPlan,
    *,
    study: int | None,
    keys: KeyRing,
    pseudonymise: bool,
    chunk: int = CHUNK,
) -> Iterator[pd.DataFrame]:
    """The export's rows as DataFrames of at most ``chunk`` rows with ``export.columns``."""
    import pandas as pd

    known = set(export.columns)
    flag_cols = [c for c in export.columns if c.startswith("flag_")]
    with db.read() as s:
        sites = {x.id: x.name for x in s.execute(select(Site)).scalars()}
        studies = {x.id: x.name for x in s.execute(select(Study)).scalars()}
        superseded = _superseded(s, actor, study)
        result = s.execute(
            _statement(actor, study).execution_options(stream_results=True, yield_per=chunk))
        for rows in result.partitions(chunk):
            births: dict[int, date | None] = {}
            records = []
            decoded = zip(_decode([r.item_scores for r in rows]), _decode([r.scores for r in rows]),
                          _decode([r.flags for r in rows]), strict=True)
            for r, (item_scores, scores, flags) in zip(rows, decoded, strict=True):
                if r.id in superseded:
                    continue
                born = None
                if r.infant_id is not None and r.ciphertext is not None:
                    if r.infant_id not in births:
                        data = keys.decrypt(r.ciphertext, f"infant:{r.infant_id}")
                        dob = data.get("date_of_birth")
                        births[r.infant_id] = date.fromisoformat(dob) if dob else None
                    born = births[r.infant_id]
                rec: dict[str, Any] = {
                    "site": sites.get(r.site_id),
                    "study": studies.get(r.study_id) if r.study_id else None,
                }
                if pseudonymise:
                    rec["family"] = (r.study_id or "none", r.family_id)
                    rec["caregiver"] = (r.study_id or "none", r.caregiver_id)
                    done = r.completed_on
                    rec["day_from_due_date"] = (done - r.due_date).days if r.due_date else None
                    rec["infant_age_days"] = (done - born).days if born else None
                else:
                    rec["family"] = r.code
                    rec["caregiver"] = r.key
                    rec["completed_on"] = r.completed_on.isoformat()
                    rec["submitted_at"] = r.submitted_at.isoformat()
                    rec["infant_due_date"] = r.due_date.isoformat() if r.due_date else None
                    rec["infant_date_of_birth"] = born.isoformat() if born else None
                rec.update(
                    caregiver_role=r.role, caregiver_age=r.age, instrument=r.instrument,
                    instrument_version=r.instrument_version, time_point=r.time_point,
                    instance=r.instance, version=r.version, input=r.input_kind,
                    submitted_via=r.submitted_via,
                    gestational_age_at_birth_weeks=r.gestation_weeks,
                )
                for n, val in enumerate(item_scores, start=1):
                    rec[f"{r.instrument}_{n}"] = val
                rec.update(scores or {})
                for flag in flags or []:
                    rec[f"flag_{flag.get('id')}"] = 1
                extra = rec.keys() - known
                if extra:
                    raise StoreError(
                        f"assessment {r.id}: {', '.join(sorted(extra))} is not a column of "
                        f"{r.instrument} (stored with version {r.instrument_version}); "
                        "the export stops rather than drop it"
                    )
                records.append(rec)
            frame = pd.DataFrame.from_records(records, columns=export.columns)
            if pseudonymise:
                # one keyed hash per distinct person in the chunk, not one per row
                for col in ("family", "caregiver"):
                    ids = {v: keys.pseudonym(v[0], col, v[1]) for v in set(frame[col])}
                    frame[col] = [ids[v] for v in frame[col]]
            if flag_cols:
                frame[flag_cols] = frame[flag_cols].fillna(0).astype("int8")
            export.rows += len(frame)
            yield frame


def csv_bytes(export: ExportPlan, frames: Iterator[pd.DataFrame]) -> Iterator[bytes]:
    """The export as CSV, chunk by chunk: the header first (even with no rows), text cells
    neutralised against formula injection (:mod:`attunement.csvsafe`)."""
    import pandas as pd

    from attunement.csvsafe import safe_frame

    yield safe_frame(pd.DataFrame(columns=export.columns)).to_csv(index=False).encode()
    for frame in frames:
        yield safe_frame(frame).to_csv(index=False, header=False).encode()


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


def parquet_bytes(export: ExportPlan, frames: Iterator[pd.DataFrame]) -> Iterator[bytes]:
    """The export as Parquet, one row group per chunk (pyarrow's ParquetWriter)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = export.schema()
    sink = _Sink()
    writer = pq.ParquetWriter(pa.PythonFile(sink, mode="w"), schema)
    try:
        for frame in frames:
            writer.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False))
            yield sink.take()
    finally:
        writer.close()
    yield sink.take()


class Exports:
    """Assessment exports (in memory or streamed)."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def export_assessments(
        self, actor: Actor, *, study: int | None = None, pseudonymise: bool | None = None
    ) -> pd.DataFrame:
        """One row per current assessment: ids, instrument, time point, keyed item scores
        (``{instrument}_{n}``), every score, and one 0/1 column per flag (``flag_{id}``).

        Pseudonymised (always for researchers): per-study keyed-hash ids for family and
        caregiver, no identifiers, no dates — ``day_from_due_date`` and ``infant_age_days``
        instead. Clinical roles get family ids and dates unless ``pseudonymise=True``.
        In memory: for large exports use :meth:`export_stream`.
        """
        import pandas as pd

        export, frames = self._export_frames(actor, study=study, pseudonymise=pseudonymise)
        df = pd.concat([pd.DataFrame(columns=export.columns), *frames], ignore_index=True)
        # as before streaming: an instrument's columns (items, scores, flags) appear when some
        # row has a value there; the fixed columns are always there
        fixed = set(PSEUDO_COLUMNS + CLINICAL_COLUMNS + COMMON_COLUMNS)
        empty = [c for c in df.columns if c not in fixed and (
            not df[c].any() if c.startswith("flag_") else df[c].isna().all())]
        return df.drop(columns=empty)

    def export_stream(
        self,
        actor: Actor,
        *,
        fmt: str = "csv",
        study: int | None = None,
        pseudonymise: bool | None = None,
        chunk: int = 5_000,
    ) -> tuple[ExportPlan, Iterator[bytes]]:
        """:meth:`export_assessments` as CSV or Parquet bytes, streamed from a server-side
        cursor chunk by chunk (bounded memory); its audit row is written when it ends."""
        if fmt not in ("csv", "parquet"):
            raise StoreValidationError("format", f"{fmt!r} cannot be streamed (csv or parquet)")
        export, frames = self._export_frames(
            actor, study=study, pseudonymise=pseudonymise, chunk=chunk)
        writer = csv_bytes if fmt == "csv" else parquet_bytes
        return export, writer(export, frames)

    def _export_frames(
        self,
        actor: Actor,
        *,
        study: int | None,
        pseudonymise: bool | None,
        chunk: int = 5_000,
    ) -> tuple[ExportPlan, Iterator[pd.DataFrame]]:
        if pseudonymise is None:
            pseudonymise = not policy.allows(actor, Action.EXPORT_IDENTIFIED)
        if not pseudonymise and not policy.allows(actor, Action.EXPORT_IDENTIFIED):
            raise Forbidden("researchers receive pseudonymised exports only")
        db = export_database(self.core.db)
        export = plan(db, actor, study=study, pseudonymise=pseudonymise)
        keys = self.core.keyring()

        def frames() -> Iterator[pd.DataFrame]:
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

        return export, frames()
