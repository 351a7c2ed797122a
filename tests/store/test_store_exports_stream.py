"""Streaming exports (issue 17): chunks from a server-side cursor, no family-id lists in the
query text, the same table as the in-memory export, neutralised CSV cells, Parquet row groups,
and the replica named by ATTUNEMENT_REPLICA_URL."""

from __future__ import annotations

import io
import sqlite3

import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import event, text
from tests.store.conftest import family_payload

from attunement.store import exports
from attunement.usecases import assessments as uc_assessments
from attunement.usecases import exports as uc_exports
from attunement.usecases import families as uc_families

EPDS = [1, 1, 2, 2, 1, 2, 1, 1, 1, 2]


def _families(world, n):
    st = world.store
    for k in range(n):
        fam = uc_families.register_family(st, world.north, family_payload(f"N-1{k:02d}", "North",
                                                           study="Attach-1"))
        uc_assessments.submit_assessment(st, world.north, fam["id"], "mother", "epds", "6w", EPDS)


def _statements(engine):
    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    return seen, lambda: event.remove(engine, "before_cursor_execute", record)


def test_export_query_joins_the_scope_instead_of_listing_family_ids(world):
    st = world.store
    _families(world, 4)
    seen, stop = _statements(st.db.engine)
    try:
        uc_exports.export_assessments(st, world.north)
        b"".join(uc_exports.export_stream(st, world.researcher, fmt="csv", chunk=2)[1])
    finally:
        stop()
    listed = [s for s in seen if "family_id IN" in s.replace("\n", " ")]
    assert seen and not listed, listed


def test_stream_is_chunked_and_equals_the_in_memory_export(world):
    st = world.store
    _families(world, 5)
    first = uc_assessments.submit_assessment(st, world.north, world.fam_north, "father", "epds", "6w", [0] * 10)
    uc_assessments.correct_assessment(st, world.north, first["id"], [1] * 10, reason="typo")
    whole = uc_exports.export_assessments(st, world.researcher)
    plan, body = uc_exports.export_stream(st, world.researcher, fmt="csv", chunk=2)
    parts = list(body)
    assert len(parts) >= 4  # the header, then one part per chunk of two rows
    streamed = pd.read_csv(io.BytesIO(b"".join(parts)))
    # every assessment (all in the researcher's study) but the corrected version
    with st.db.read() as s:
        expected = s.execute(text("SELECT count(*) FROM assessments")).scalar_one() - 1
    assert plan.rows == len(streamed) == len(whole) == expected
    common = list(whole.columns)
    assert set(common) <= set(streamed.columns)
    left = pd.read_csv(io.StringIO(whole.to_csv(index=False)))[common]
    right = streamed[common].reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right, check_dtype=False)
    # the researcher sees pseudonyms only, stable across the two paths
    assert not any(str(x).startswith("N-") for x in streamed["family"])
    log = st.maintenance.audit_log(world.admin, limit=5)
    assert log[0]["action"] == "export" and log[0]["after"]["rows"] == expected


def test_streamed_csv_cells_cannot_run_as_formulas(world):
    st = world.store
    st.accounts.add_site(world.system, "=HYPERLINK(\"http://x\")")
    uc_families.register_family(st, world.admin, family_payload("E-1", "=HYPERLINK(\"http://x\")"))
    fam = st.families.list_families(world.admin, q="E-1")[0]
    uc_assessments.submit_assessment(st, world.admin, fam["id"], "mother", "epds", "6w", EPDS)
    text = b"".join(uc_exports.export_stream(st, world.admin, fmt="csv")[1]).decode()
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text


def test_parquet_stream_writes_one_row_group_per_chunk(world):
    st = world.store
    _families(world, 5)
    plan, body = uc_exports.export_stream(st, world.researcher, fmt="parquet", chunk=2)
    data = b"".join(body)
    f = pq.ParquetFile(io.BytesIO(data))
    whole = uc_exports.export_assessments(st, world.researcher)
    assert f.metadata.num_rows == plan.rows == len(whole) > 5
    assert f.metadata.num_row_groups == (plan.rows + 1) // 2
    table = f.read().to_pandas()
    assert table["epds_total"].tolist() == whole["epds_total"].astype(float).tolist()
    assert table["flag_epds_self_harm"].tolist() == whole["flag_epds_self_harm"].tolist()
    assert str(table["flag_epds_self_harm"].dtype) == "int8"


def test_exports_read_the_replica_when_one_is_named(world, monkeypatch, tmp_path):
    st = world.store
    _families(world, 2)
    if st.dialect == "sqlite":
        # a copy taken now stands for a replica that is behind: the export must show it
        copy = tmp_path / "replica.db"
        src = sqlite3.connect(st.url.removeprefix("sqlite:///"))
        dst = sqlite3.connect(copy)
        src.backup(dst)  # the WAL's pages too
        src.close()
        dst.close()
        replica = f"sqlite:///{copy}"
        uc_assessments.submit_assessment(st, world.north, world.fam_north, "father", "epds", "6w", EPDS)
        expected = len(uc_exports.export_assessments(st, world.north)) - 1
    else:
        # a second URL to the same server and database
        replica = st.url + "?application_name=attunement-replica"
        expected = len(uc_exports.export_assessments(st, world.north))
    monkeypatch.setenv(exports.REPLICA_ENV, replica)
    seen, stop = _statements(exports.export_database(st.db).engine)
    try:
        frame = uc_exports.export_assessments(st, world.north)
    finally:
        stop()
    assert exports.export_database(st.db) is not st.db
    assert len(frame) == expected
    assert any("FROM assessments" in s for s in seen)


def test_researcher_cannot_stream_identifiable_data(world):
    from attunement.store import Forbidden

    with pytest.raises(Forbidden):
        uc_exports.export_stream(world.store, world.researcher, fmt="csv", pseudonymise=False)
