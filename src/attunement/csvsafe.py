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
    """``value`` with a leading ``'`` when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(TRIGGERS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_frame(frame: Any) -> Any:
    """A copy of a pandas DataFrame whose text cells (and column names) are spreadsheet-safe."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or str(out[column].dtype) in ("string", "str"):
            out[column] = out[column].map(safe_cell)
    out.columns = [safe_cell(c) for c in out.columns]
    return out
