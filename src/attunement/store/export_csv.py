"""CSV text of an export's Arrow chunk, built a column at a time with pyarrow compute.

The text is the one pandas' ``to_csv`` writes for the same table with the export's column
types (``index=False``, ``,`` between cells, ``\\n`` after each row, the ``csv`` module's
minimal quoting) after :func:`attunement.csvsafe.safe_frame`: a missing value is an empty
cell; a float64 cell is its shortest round-trip text (``3.0``, ``0.25``, ``1e-05``) and a
NaN is empty; integers are plain (``20``); booleans are ``True``/``False``; a text cell a
spreadsheet would run as a formula gets a leading ``'`` (:func:`attunement.csvsafe.safe_cell`);
a cell holding ``,``, ``"`` or a newline (and, in newer Pythons, a carriage return) is
quoted with its ``"`` doubled, exactly as the ``csv`` module quotes it.
``tests/store/test_store_export_csv.py`` checks the equality cell by cell on varied values.

Cells are formatted per column in pyarrow's compute kernels; only the rare cells the kernels
cannot format exactly (non-integral floats, formula-like or quoted text) go through Python.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from attunement.csvsafe import safe_cell

# cells a spreadsheet might run (checked exactly by safe_cell) and cells that may need
# quoting (checked exactly by the csv module)
_TRIGGER = r"^[=+\-@\t\r]"
_QUOTE = r'[,"\r\n]'
# below this magnitude an integral float's shortest text is its integer and ".0"
_EXACT = 1e16


def header(columns: list[str]) -> bytes:
    r"""Write an export's CSV header line.

    Parameters
    ----------
    columns : list of str
        The column names.

    Returns
    -------
    bytes
        The names, neutralised against spreadsheet formulas and quoted as the ``csv``
        module quotes, ending in a newline.

    Examples
    --------
    >>> header(["family", "epds total", "=note"])
    b"family,epds total,'=note\n"
    """
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([safe_cell(c) for c in columns])
    return out.getvalue().encode()


def _replace(values: Any, mask: Any, fn: Any) -> Any:
    """``values`` (strings) with the cells under ``mask`` replaced by ``fn(cell)``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pc.any(mask).as_py():
        return values
    cells = pc.filter(values, mask).to_pylist()
    return pc.replace_with_mask(values, mask, pa.array([fn(c) for c in cells], pa.string()))


def _quoted(cell: str) -> str:
    """The cell as the ``csv`` module writes it (which characters make it quote a cell
    has changed between Python versions; pandas writes through that module)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([cell])
    return out.getvalue()[:-1]


def _text(column: Any) -> Any:
    import pyarrow.compute as pc

    cells = pc.fill_null(column.cast("string"), "")
    cells = _replace(cells, pc.match_substring_regex(cells, _TRIGGER), safe_cell)
    return _replace(cells, pc.match_substring_regex(cells, _QUOTE), _quoted)


def _float(column: Any) -> Any:
    """Shortest round-trip text of each float (``repr``), empty for a null or NaN."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    values = column.to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        plain = (np.abs(values) < _EXACT) & (values == np.trunc(values)) & ~(
            (values == 0) & np.signbit(values))
    whole = pa.array(np.where(plain, values, 0).astype(np.int64)).cast(pa.string())
    cells = pc.binary_join_element_wise(whole, pa.scalar(".0"), "")
    other = np.isfinite(values) & ~plain
    if other.any():
        cells = pc.replace_with_mask(cells, pa.array(other), pa.array(
            [repr(float(v)) for v in values[other]], pa.string()))
    infinite = np.isinf(values)
    if infinite.any():
        cells = pc.replace_with_mask(cells, pa.array(infinite), pa.array(
            [repr(float(v)) for v in values[infinite]], pa.string()))
    return pc.if_else(pa.array(np.isnan(values)), pa.scalar(""), cells)


def _cells(column: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_floating(kind):
        return _float(column)
    if pa.types.is_boolean(kind):
        return pc.fill_null(pc.if_else(column, pa.scalar("True"), pa.scalar("False")), "")
    if pa.types.is_integer(kind):
        return pc.fill_null(column.cast(pa.string()), "")
    return _text(column)


def rows(table: Any) -> bytes:
    r"""Write the CSV lines of one Arrow chunk of an export, without the header.

    Parameters
    ----------
    table : pyarrow.Table
        The chunk, with the export's column types.

    Returns
    -------
    bytes
        One line per row, each ending in a newline; the text pandas' ``to_csv`` writes.

    Examples
    --------
    >>> import pyarrow as pa
    >>> rows(pa.table({"family": ["F1", "F2"], "epds": [12.0, None], "urgent": [True, False]}))
    b'F1,12.0,True\nF2,,False\n'
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if table.num_rows == 0:
        return b""
    columns = [_cells(c.combine_chunks()) for c in table.columns]
    lines = pc.binary_join_element_wise(*columns, ",")
    lines = pc.binary_join_element_wise(lines, pa.scalar(""), "\n")  # line + "\n" + ""
    lines = lines.cast(pa.large_string())
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)
    start, end = offsets[lines.offset], offsets[lines.offset + len(lines)]
    return lines.buffers()[2].to_pybytes()[start:end]
