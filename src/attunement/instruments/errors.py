"""Errors raised by the instruments library."""

from __future__ import annotations

from typing import Any

from attunement.content import ContentError


class DefinitionError(ContentError):
    """A content file is invalid (a questionnaire definition, text pack, factors, tiers ...).

    The message reads ``"{file}: {path}: {reason}"`` like every :class:`ContentError`;
    ``item`` (the item number) and ``field`` (the place within the item, or the path) are kept
    for callers that ask which item was at fault.

    Examples
    --------
    >>> str(DefinitionError("unknown key 'x'", file="epds.yaml", item=5, field="key",
    ...                     path="items[4].key"))
    "epds.yaml: items[4].key: unknown key 'x'"
    """

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        item: int | str | None = None,
        field: str | None = None,
        path: str | None = None,
    ) -> None:
        self.item = item
        self.field = field
        if path is None:
            path = field or ""
            if item is not None and f".{item}" not in path:
                path = f"{path} (item {item})" if path else f"item {item}"
        super().__init__(file, path, reason)

    @classmethod
    def at(cls, file: str | None, path: str | None, reason: str) -> DefinitionError:
        return cls(reason, file=file, path=path or "", field=path or None)


class ScoringError(ValueError):
    """Bad scoring input: the message says ``row N, column C: why``.

    ``row`` is the 0-based data row (``None`` when the problem is not tied to a row, such as a
    missing item column); ``column`` the input column; ``value`` the offending value.
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
    """No bundled (or registered) definition has this instrument id."""

    def __init__(self, instrument_id: str, known: list[str] | None = None) -> None:
        self.instrument_id = instrument_id
        hint = f"; known instruments: {', '.join(known)}" if known else ""
        super().__init__(f"unknown instrument {instrument_id!r}{hint}", value=instrument_id)
