"""``audit verify`` with the keyed hashes computed in a process pool gives the same answer
as in one process: every tampering case is still caught at the same row, for the same
reason (both databases)."""

from __future__ import annotations

import hmac
import json

import pytest
from tests.store.test_store_audit import _drop_guard, _sql

from attunement.store import audit
from attunement.store.maintenance import verify_audit

# the pool from the first row on, one row a chunk (ranges of five rows: 1-5, 6-10, ...):
# many ranges even in a small log
POOL = {"workers": 2, "parallel_after": 0, "chunk": 1}


def _both(store):
    one = verify_audit(store.core, workers=1)
    pooled = verify_audit(store.core, **POOL)
    assert (pooled.ok, pooled.rows, pooled.first_broken, pooled.reason, pooled.problems) == (
        one.ok, one.rows, one.first_broken, one.reason, one.problems)
    return pooled


def test_an_intact_chain_verifies_in_the_pool(world):
    report = _both(world.store)
    assert report.ok and report.rows > 3 * 5  # four ranges


@pytest.mark.parametrize(
    ("statement", "broken", "reason"),
    [
        ("UPDATE audit_log SET actor_email = 'someone@else.org' WHERE id = 5", 5, "keyed hash"),
        ("UPDATE audit_log SET after = NULL WHERE id = 11", 11, "keyed hash"),
        ("DELETE FROM audit_log WHERE id = 7", 8, "row 7 is missing"),
        # the first row of a range: the range starts from the stored row before it
        ("DELETE FROM audit_log WHERE id = 11", 12, "row 11 is missing"),
        ("UPDATE audit_log SET prev_hash = hash WHERE id = 16", 16, "previous-hash link"),
        ("UPDATE audit_log SET prev_hash = hash WHERE id = 9", 9, "previous-hash link"),
    ],
)
def test_tampering_is_caught_at_the_same_row_in_the_pool(world, statement, broken, reason):
    st = world.store
    _drop_guard(st)
    _sql(st, statement)
    report = _both(st)
    assert not report.ok and report.first_broken == broken and reason in report.reason


def test_a_later_break_in_another_chunk_does_not_hide_the_first(world):
    st = world.store
    _drop_guard(st)
    _sql(st, "UPDATE audit_log SET client = 'x' WHERE id = 13",
         "UPDATE audit_log SET client = 'y' WHERE id = 4")
    report = _both(st)
    assert report.first_broken == 4


def test_the_fast_payload_is_the_canonical_json_byte_for_byte():
    """Strings with quotes, escapes and non-ASCII text, integers, nulls and the odd value
    (a boolean, a float) encode exactly as ``canonical`` does, so the chain format holds."""
    key = b"k" * 32
    values = ['plain', 'quote " and \\ back', "tab\tnew\nline", "café ☕ 😀", "", "</script>"]
    prev = "0" * 64
    rows = []
    for n, value in enumerate([*values, None, 7, True, 1.5], start=1):
        fields = dict.fromkeys(audit.KEYED_FIELDS, value)
        fields["id"] = n
        digest = audit.keyed_row_hash(key, prev, fields)
        rows.append((*(fields[k] for k in audit.KEYED_FIELDS), prev, digest))
        assert audit._payload(rows[-1]) == audit.canonical(
            {k: fields[k] for k in audit.KEYED_FIELDS})
        prev = digest
    assert audit.first_bad_hmac(key, 1, rows) is None
    forged = list(rows[3])
    forged[audit.KEYED_FIELDS.index("reason")] = json.dumps("changed")
    rows[3] = tuple(forged)
    assert audit.first_bad_hmac(key, 1, rows) == 4
    assert audit.first_bad_hmac(key, 5, rows) is None  # rows before the keyed era skipped


def test_from_a_checkpoint_the_pool_gives_the_same_answer(world):
    st = world.store
    cp = st.maintenance.audit_checkpoint()
    for k in range(3):
        st.accounts.add_site(world.system, f"Later {k}")
    one = verify_audit(st.core, checkpoint=cp, workers=1)
    pooled = verify_audit(st.core, checkpoint=cp, **POOL)
    assert pooled.ok and (pooled.rows, pooled.problems) == (one.rows, one.problems)
    _drop_guard(st)
    _sql(st, f"UPDATE audit_log SET client = 'x' WHERE id = {cp['last_id']}")
    one = verify_audit(st.core, checkpoint=cp, workers=1)
    pooled = verify_audit(st.core, checkpoint=cp, **POOL)
    assert not pooled.ok and pooled.first_broken == one.first_broken == cp["last_id"]
    assert pooled.reason == one.reason


@pytest.mark.parametrize("key_size", [0, 1, 32, 63, 64, 65, 200])
def test_the_precomputed_key_pads_give_the_standard_hmac(key_size):
    """The walk's HMAC from the key's saved pad states equals ``hmac.digest`` for keys shorter
    than, equal to and longer than SHA-256's 64-byte block (a longer key is hashed first)."""
    key = bytes(range(key_size % 256)) * (key_size // 256) + bytes(range(key_size % 256))
    inner, outer = audit._hmac_pads(key)
    for text in (b"", b"x", b"row text " * 100):
        h = inner.copy()
        h.update(text)
        o = outer.copy()
        o.update(h.digest())
        assert o.digest() == hmac.digest(key, text, "sha256")


def test_the_message_is_the_stored_prev_hash_then_the_canonical_payload():
    """The HMAC's text built in one step is the stored ``prev_hash`` followed by the payload;
    a row whose ``prev_hash`` is not a string is left to the encoder path."""
    fields = dict.fromkeys(audit.KEYED_FIELDS, "v")
    fields.update(id=3, actor_id=None, family_id=True, site_id=12)
    row = (*(fields[k] for k in audit.KEYED_FIELDS), "p" * 64, "h" * 64)
    with pytest.raises(audit._OddValue):
        audit._FAST_MESSAGE(row)  # True in an integer column is not the integer 1
    fields["family_id"] = 7
    row = (*(fields[k] for k in audit.KEYED_FIELDS), "p" * 64, "h" * 64)
    assert audit._FAST_MESSAGE(row) == "p" * 64 + audit.canonical(
        {k: fields[k] for k in audit.KEYED_FIELDS})
    with pytest.raises(audit._OddValue):
        audit._FAST_MESSAGE((*row[:-2], 5, "h" * 64))


def test_orjson_s_text_proves_a_row_only_where_canonical_s_would():
    """The walk tries orjson's bytes first; every row of the value matrix gets the same
    answer as with canonical()'s text alone, and a non-finite float where the row had a
    null (orjson writes both as null) is still called bad."""
    key = b"k" * 32
    values = ['plain', 'quote " and \\ back', "tab\tnew\nline", "café ☕ 😀", "", "del \x7f",
              None, 7, -2**63, 2**70, True, 1.5]
    prev, rows = "0" * 64, []
    for n, value in enumerate(values, start=1):
        fields = dict.fromkeys(audit.KEYED_FIELDS, value) | {"id": n}
        digest = audit.keyed_row_hash(key, prev, fields)
        rows.append((*(fields[k] for k in audit.KEYED_FIELDS), prev, digest))
        prev = digest
    assert audit.first_bad_hmac(key, 1, rows, fast=True) is None
    null_row = rows[values.index(None)]
    for odd in (float("inf"), float("-inf"), float("nan")):
        for column in ("actor_id", "site_id"):
            forged = list(null_row)
            forged[audit.KEYED_FIELDS.index(column)] = odd
            assert audit.first_bad_hmac(key, 1, [tuple(forged)], fast=True) == null_row[0]
            assert audit.first_bad_hmac(key, 1, [tuple(forged)]) == null_row[0]
    for i, value in enumerate(values):  # any single edit is caught on both paths
        forged = list(rows[i])
        forged[audit.KEYED_FIELDS.index("reason")] = "edited"
        if value != "edited":
            assert audit.first_bad_hmac(key, 1, [tuple(forged)], fast=True) == i + 1


def test_an_infinite_number_put_in_place_of_a_null_is_caught(world):
    """SQLite keeps a real number in an integer column; orjson would write an infinite one
    as null, so the walk leaves any float to canonical()'s text (both databases: PostgreSQL
    after the column is made a float)."""
    st = world.store
    with st.db.read() as s:
        assert audit.plain_columns(s)
        row_id = s.connection().exec_driver_sql(
            "SELECT max(id) FROM audit_log WHERE site_id IS NULL").scalar()
    _drop_guard(st)
    if st.dialect == "postgresql":
        # a float column: every site id now reads 1.0, not 1 (canonical() tells them apart),
        # and the walk takes canonical()'s text only
        _sql(st, "ALTER TABLE audit_log ALTER COLUMN site_id TYPE double precision",
             f"UPDATE audit_log SET site_id = 'Infinity' WHERE id = {row_id}")
        with st.db.read() as s:
            assert not audit.plain_columns(s)
            first_site = s.connection().exec_driver_sql(
                "SELECT min(id) FROM audit_log WHERE site_id IS NOT NULL").scalar()
        assert _both(st).first_broken == first_site
        return
    _sql(st, f"UPDATE audit_log SET site_id = 9e999 WHERE id = {row_id}")
    report = _both(st)
    assert (report.first_broken, report.reason) == (
        row_id, "row content does not match its keyed hash")
