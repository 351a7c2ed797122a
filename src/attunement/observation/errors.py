"""The observation area's error type: every message names the file, line or field and why."""

from __future__ import annotations


class ObservationError(ValueError):
    """Bad observational data or a bad coding scheme.

    Parameters
    ----------
    message : str
        Why.
    source : str, optional
        The file (or ``"<data>"``).
    line : int, optional
        The 1-based line or row number in that file, when known.
    field : str, optional
        The column or key.
    problems : list of str, optional
        Every problem found, so a file with several errors is reported in one go.

    Examples
    --------
    >>> str(ObservationError("bad code", source="a.csv", line=3, field="code"))
    "a.csv, line 3, 'code': bad code"
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        field: str | None = None,
        problems: list[str] | None = None,
    ) -> None:
        self.source = source
        self.line = line
        self.field = field
        self.problems = problems or []
        where = ""
        if source is not None:
            where = str(source)
            if line is not None:
                where += f", line {line}"
            if field is not None:
                where += f", {field!r}"
            where += ": "
        elif field is not None:
            where = f"{field!r}: "
        text = where + message
        if self.problems and len(self.problems) > 1:
            text += "\n  " + "\n  ".join(self.problems)
        super().__init__(text)
