"""Errors raised by the instruments library."""

from __future__ import annotations

from typing import Any

from attunement.content import DefinitionError

__all__ = ["DefinitionError", "ScoringError", "UnknownInstrument"]


class ScoringError(ValueError):
    """Bad scoring input: the message says ``row N, column C: why``.

    Parameters
    ----------
    reason : str
        Why.
    row : int, optional
        The 0-based data row (None when the problem is not tied to a row, such as a missing item
        column).
    column : str, optional
        The input column.
    value : Any
        The offending value.
    more : int
        How many further problems there were.

    Examples
    --------
    >>> str(ScoringError("not a number", row=2, column="epds_3", value="x", more=1))
    'row 2, column epds_3: not a number (and 1 more problem)'
    """

    def __init__(
        self,
        reason: str,
        *,
        row: int | None = None,
        column: str | None = None,
        value: Any = None,
        more: int = 0,
    ) -> None:
        self.row = row
        self.column = column
        self.value = value
        self.reason = reason
        self.more = more
        where = []
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column}")
        message = f"{', '.join(where)}: {reason}" if where else reason
        if more:
            message += f" (and {more} more problem{'s' if more > 1 else ''})"
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownInstrument(ScoringError, KeyError):
    """No bundled (or registered) definition has this instrument id.

    Parameters
    ----------
    instrument_id : str
        The id asked for.
    known : list of str, optional
        The ids there are, for the message.

    Examples
    --------
    >>> str(UnknownInstrument("nope", ["epds", "phq9"]))
    "unknown instrument 'nope'; known instruments: epds, phq9"
    """

    def __init__(self, instrument_id: str, known: list[str] | None = None) -> None:
        self.instrument_id = instrument_id
        hint = f"; known instruments: {', '.join(known)}" if known else ""
        super().__init__(f"unknown instrument {instrument_id!r}{hint}", value=instrument_id)
