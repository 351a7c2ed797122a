"""Spreadsheet-safe text cells for CSV (and other tabular) exports.

A spreadsheet opening a CSV runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab
or carriage return before one) as a formula: a free-text time point, site or study name such
as ``=HYPERLINK(...)`` would execute on a researcher's machine. Following the OWASP "CSV
Injection" guidance, such a *text* cell is written with a leading ``'`` so it shows as text.
Numbers are never touched: numeric columns keep their values (``-3`` stays ``-3``), and a text
cell that is just a number (``"-3"``, ``"+1.5e3"``) cannot be a formula and is left as is.
"""

from __future__ import annotations

import re
from typing import Any

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def safe_cell(value: Any) -> Any:
    """Make one cell safe to open in a spreadsheet.

    Parameters
    ----------
    value : object
        A cell as it will be written: text, a number, a date, None.

    Returns
    -------
    object
        ``value`` with a leading ``'`` when it is text a spreadsheet would run as a formula;
        otherwise ``value`` unchanged (numbers, and text that is just a number, included).

    Examples
    --------
    >>> safe_cell("=SUM(A1:A9)")
    "'=SUM(A1:A9)"
    >>> safe_cell("-3"), safe_cell(-3), safe_cell("6 weeks")
    ('-3', -3, '6 weeks')
    """
    if isinstance(value, str) and value.startswith(TRIGGERS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_frame(frame: Any) -> Any:
    """Make a table's text cells and column names safe before writing it as CSV.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table to export; it is not changed.

    Returns
    -------
    pandas.DataFrame
        A copy whose text cells and column names pass through :func:`safe_cell`; numeric
        columns keep their values.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"site": ["North", "@South"], "epds_total": [12, -1]})
    >>> safe_frame(table)
         site  epds_total
    0   North          12
    1  '@South          -1
    """
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or str(out[column].dtype) in ("string", "str"):
            out[column] = out[column].map(safe_cell)
    out.columns = [safe_cell(c) for c in out.columns]
    return out
