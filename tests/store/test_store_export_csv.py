"""The export's CSV text, built a column at a time from Arrow (attunement.store.export_csv),
is pandas' ``to_csv`` of the same typed table after csvsafe.safe_frame, cell for cell; the
store's streamed CSV keeps its format whatever the chunking; bad stored values stop it."""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import UTC, date, datetime

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.store.conftest import family_payload

from attunement.csvsafe import safe_frame
from attunement.store import StoreError, export_csv, exports
from attunement.store.crypto import KeyRing
from attunement.store.export_chunks import ChunkBuilder
from attunement.usecases import assessments as uc_assessments
from attunement.usecases import exports as uc_exports
from attunement.usecases import families as uc_families

FLOATS = [0.0, 3.0, -3.0, 0.1, 2.5, 1e-05, 1.5e-7, 123456789.125, 1e15 + 1, 1e16, 2.0 ** 60,
          1e300, -0.0, math.inf, -math.inf, math.nan, None, 1 / 3, -12.75, 1e22]
TEXTS = ["plain", "", None, "=HYPERLINK(\"http://x\")", "+1", "-3", "+1.5e3", "@SUM(A1)",
         "\tfoo", "\r=1", "-", "a,b", "say \"hi\"", "two\nlines", "cr\ronly", "Zoë Ørsted",
         "日本語", "emoji 🙂", "-٣", "  padded ", "'already", "1,5", "=", "+ 2"]


def _reference(table: pa.Table) -> bytes:
    """pandas' to_csv of the table with its types (nullable integers stay integers)."""
    frame = pd.DataFrame({
        f.name: pd.Series(table.column(f.name).to_pylist(), dtype={
            "int64": "Int64", "int8": "int8", "double": "float64"}.get(str(f.type), object))
        for f in table.schema})
    return safe_frame(frame).to_csv(index=False, header=False).encode()


def _table(n: int) -> pa.Table:
    def cycle(values):
        return [values[i % len(values)] for i in range(n)]

    return pa.table({
        "site": pa.array(cycle(TEXTS), pa.string()),
        "score": pa.array(cycle(FLOATS), pa.float64()),
        "age": pa.array(cycle([20, None, -4, 0, 2 ** 40]), pa.int64()),
        "cut": pa.array(cycle([True, False, None]), pa.bool_()),
        "flag_x": pa.array(cycle([0, 1]), pa.int8()),
        "band": pa.array(cycle(list(reversed(TEXTS))), pa.string()),
    })


@pytest.mark.parametrize("n", [1, 7, 60])
def test_arrow_csv_text_is_pandas_to_csv_of_the_typed_table(n):
    table = _table(n)
    assert export_csv.rows(table) == _reference(table)


def test_arrow_csv_header_is_pandas_header():
    columns = ["site", "=bad", "a,b", "ümlaut", "flag_x"]
    assert export_csv.header(columns) == safe_frame(
        pd.DataFrame(columns=columns)).to_csv(index=False).encode()


def test_arrow_csv_of_a_slice_and_of_no_rows():
    table = _table(40)
    assert export_csv.rows(table.slice(13, 9)) == _reference(table.slice(13, 9))
    assert export_csv.rows(table.slice(0, 0)) == b""


def _varied(world):
    """Families with a formula-like, non-ASCII, comma-holding site; a caregiver without an
    age; EPDS and PHQ-9 with unanswered items."""
    st = world.store
    st.accounts.add_site(world.system, "=Zoë, \"Nord\"")
    payload = family_payload("V-1", "=Zoë, \"Nord\"")
    payload["caregivers"][1].pop("age")
    fam = uc_families.register_family(st, world.admin, payload)
    uc_assessments.submit_assessment(st, world.admin, fam["id"], "father", "epds", "6w",
                                     [None, 1, 2, 3, 0, 1, 2, 3, 0, None])
    uc_assessments.submit_assessment(st, world.admin, fam["id"], "mother", "phq9", "6w",
                                     [1, 0, 2, 3, None, 0, 1, 2, 1])
    uc_assessments.submit_assessment(st, world.admin, world.fam_north, "father", "epds", "6w",
                                     [0] * 10)


def test_streamed_csv_is_pandas_to_csv_of_the_chunks_whatever_the_chunk_size(world):
    st = world.store
    _varied(world)
    export, tables = st.exports._export_tables(world.admin, study=None, pseudonymise=False,
                                            instrument_columns=uc_exports.instrument_columns)
    tables = list(tables)
    expected = export_csv.header(export.columns) + b"".join(_reference(t) for t in tables)
    for chunk in (1, 2, 5_000):
        got = b"".join(uc_exports.export_stream(st, world.admin, fmt="csv", pseudonymise=False,
                                                chunk=chunk)[1])
        assert got == expected
    frame = pd.read_csv(io.BytesIO(expected))
    assert "'=Zoë, \"Nord\"" in set(frame["site"])
    # a safety rule's "unanswered" column is written as the booleans it holds; Parquet keeps
    # its float64 0/1 column
    assert set(frame["epds_self_harm_unanswered"].dropna()) == {True, False}
    data = b"".join(uc_exports.export_stream(st, world.admin, fmt="parquet")[1])
    schema = pq.ParquetFile(io.BytesIO(data)).schema_arrow
    assert schema.field("epds_self_harm_unanswered").type == pa.float64()


def test_an_integer_column_is_written_as_integers_in_every_chunk(world):
    # pandas wrote the caregiver's age as 31.0 in a chunk holding a caregiver without an
    # age and as 31 elsewhere: the text depended on the chunk's other rows
    st = world.store
    _varied(world)
    body = b"".join(uc_exports.export_stream(st, world.admin, fmt="csv", pseudonymise=False,
                                             chunk=2)[1]).decode()
    rows = list(csv.DictReader(io.StringIO(body)))  # the cells' text, unconverted
    ages = {r["caregiver_age"] for r in rows}
    assert "" in ages and {"29", "31"} <= ages and not any("." in a for a in ages), ages


def _chunk(scores: list[dict], items: list[list]) -> dict:
    """The export query's columns for two assessments (ids 11 and 12) of one chunk."""
    n = len(scores)
    return {
        "id": (11, 12)[:n], "family_id": (1,) * n, "caregiver_id": (1,) * n,
        "instrument": ("epds",) * n, "instrument_version": ("1987",) * n,
        "time_point": ("6w",) * n, "instance": (1,) * n, "version": (1,) * n,
        "input_kind": ("scores",) * n, "submitted_via": ("staff",) * n,
        "completed_on": (date(2026, 11, 1),) * n,
        "submitted_at": (datetime(2026, 11, 1, tzinfo=UTC),) * n,
        "item_scores": tuple(json.dumps(x) for x in items),
        "scores": tuple(json.dumps(x) for x in scores), "flags": ("[]",) * n,
        "site_id": (1,) * n, "study_id": (None,) * n, "code": ("F",) * n, "key": ("m",) * n,
        "role": ("birth_mother",) * n, "age": (30,) * n, "infant_id": (None,) * n,
        "due_date": (None,) * n, "gestation_weeks": (None,) * n, "ciphertext": (None,) * n,
    }


def _builder(export_plan):
    return ChunkBuilder(export_plan.schema(), fixed=exports.FIXED, keys=KeyRing(bytes(32)),
                        pseudonymise=True, sites={1: "North"}, studies={})


def test_a_stored_value_without_a_column_or_of_the_wrong_type_stops_the_export():
    epds = uc_exports.instrument_columns("epds")
    plan = exports.ExportPlan(
        [*exports.PSEUDO_COLUMNS, *exports.COMMON_COLUMNS, *epds.names, *epds.flags],
        {**exports._TYPES, **epds.types, **dict.fromkeys(epds.flags, "int8")})
    build = _builder(plan)
    good = build.table(_chunk([{"epds_total": 3}, {"epds_total": 4.5}], [[1] * 10, [2] * 10]), 2)
    assert good.column("epds_total").to_pylist() == [3.0, 4.5]
    with pytest.raises(StoreError, match="assessment 12: epds_total is 'lots', which is not"):
        build.table(_chunk([{"epds_total": 3}, {"epds_total": "lots"}], [[1] * 10] * 2), 2)
    # the first row (in id order) with a value that has no column is named, with all of its
    with pytest.raises(StoreError, match="assessment 11: epds_11, epds_mystery is not a column"):
        build.table(_chunk([{"epds_mystery": 1}, {"epds_other": 2}], [[1] * 11, [1] * 10]), 2)
