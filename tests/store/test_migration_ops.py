"""The column specs of ``store/migrations/_ops.py``: what each word builds, and a clear error."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from attunement.store.migrations import _ops


def test_a_spec_builds_the_columns_it_names_in_order():
    built = _ops.columns("""id int, code str(100), left_on date?,
        size bigint?, blob bytes, flag bool""")
    assert [(c.name, type(c.type), c.nullable) for c in built] == [
        ("id", sa.Integer, False), ("code", sa.String, False), ("left_on", sa.Date, True),
        ("size", sa.BigInteger, True), ("blob", sa.LargeBinary, False), ("flag", sa.Boolean, False),
    ]
    assert built[1].type.length == 100


@pytest.mark.parametrize("spec", ["id integer", "id", "id int!", "code str()", "id int,"])
def test_a_spec_it_cannot_read_is_an_error_naming_it(spec):
    with pytest.raises(ValueError, match=r"column spec .* want 'name type\[\?\]'"):
        _ops.columns(spec)
