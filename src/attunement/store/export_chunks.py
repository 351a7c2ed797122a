"""One chunk of the streamed export as an Arrow table, built a column at a time.

The chunk's rows are turned into columns once (``zip(*rows)``); the three JSON columns are
decoded in one ``json.loads`` call each; pseudonyms are computed once per distinct family
and caregiver and dates of birth decrypted once per infant; day counts are date arithmetic
on Arrow arrays; each instrument's items and scores are gathered for that instrument's rows
only and spread over the chunk with one ``take``. Building one dict per row and a DataFrame
from them cost about half of the export's time (``docs/scaling.md``).

A stored value that has no column of the export stops it with an error naming the assessment
(the first in id order, as the row-by-row build did); a value that does not fit its column's
type (text in a score) names the assessment and the column. Nothing is dropped or coerced.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from itertools import zip_longest
from typing import TYPE_CHECKING, Any, NoReturn

from attunement.store.errors import StoreError

if TYPE_CHECKING:
    import pyarrow as pa

    from attunement.store.crypto import KeyRing


# distinct JSON texts kept decoded across chunks, per column (cleared when full: at most
# a few MB a column)
CACHE = 10_000


def _decode(texts: tuple[str | None, ...], cache: dict[str | None, Any],
            keep: Callable[[Any], Any] = lambda v: v) -> list[Any]:
    """``keep`` of each JSON text's value, each distinct text decoded once: the new ones in
    one ``json.loads`` call (one array) instead of one call each. A flag list's text
    (labels, reasons and sources, about 700 bytes) repeats across assessments with the same
    scores; decoding every copy was the largest part of the export's time."""
    new = [t for t in set(texts) if t not in cache]
    if new:
        if len(cache) + len(new) > CACHE:
            cache.clear()
            cache[None] = keep(None)
        values = json.loads("[" + ",".join(new) + "]")
        cache.update(zip(new, map(keep, values), strict=True))
    return list(map(cache.__getitem__, texts))


def _flag_columns(flags: list[dict[str, Any]] | None) -> tuple[str, ...]:
    """The ``flag_{id}`` columns of a stored flag list."""
    return tuple(f"flag_{flag.get('id')}" for flag in flags or ())


class ChunkBuilder:
    """Arrow tables with the export's schema from the export query's rows, a chunk at a time.

    Parameters
    ----------
    schema : pyarrow.Schema
        The export's columns and their types.
    fixed : set of str
        The columns that come from the tables rather than an assessment's JSON; the others
        (``flag_*`` aside) are item and score columns.
    keys : KeyRing
        The key ring (pseudonyms, the infant's encrypted date of birth).
    pseudonymise : bool
        Keyed-hash family and caregiver ids and day counts instead of ids and dates.
    sites, studies : dict of int to str
        Names by id.

    Examples
    --------
    >>> import pyarrow as pa
    >>> schema = pa.schema([("site", pa.string()), ("family", pa.string()),
    ...                     ("epds_total", pa.int64()), ("flag_self_harm", pa.int8())])
    >>> build = ChunkBuilder(schema, fixed={"site", "family"}, keys=store.core.keyring(),
    ...                      pseudonymise=False, sites={site: "North"}, studies={})
    >>> build.scores, build.flags
    ({'epds_total'}, {'flag_self_harm'})
    >>> build.table({}, 0).column_names
    ['site', 'family', 'epds_total', 'flag_self_harm']
    """

    def __init__(self, schema: pa.Schema, *, fixed: set[str], keys: KeyRing,
                 pseudonymise: bool, sites: dict[int, str], studies: dict[int, str]) -> None:
        self.schema = schema
        self.keys = keys
        self.pseudonymise = pseudonymise
        self.sites, self.studies = sites, studies
        self.flags = {f.name for f in schema if f.name.startswith("flag_")}
        self.known = {f.name for f in schema}
        self.scores = self.known - fixed - self.flags
        self._json: tuple[dict[str | None, Any], ...] = ({None: None}, {None: None}, {None: ()})

    def table(self, col: dict[str, tuple[Any, ...]], n: int) -> pa.Table:
        """Build the table of one chunk of the export query's rows.

        Parameters
        ----------
        col : dict of str to tuple
            The query's columns by name, each a tuple of the chunk's values.
        n : int
            The number of rows.

        Returns
        -------
        pyarrow.Table
            The chunk, with the export's schema.

        Raises
        ------
        StoreError
            For a stored value that has no column, or does not fit its column's type, naming
            the assessment (nothing is dropped or coerced).
        """
        import pyarrow as pa

        if n == 0:
            return self.schema.empty_table()
        out: dict[str, Any] = {
            "site": list(map(self.sites.get, col["site_id"])),
            "study": list(map(self.studies.get, col["study_id"])),
        }
        born = self._births(col)
        if self.pseudonymise:
            self._pseudonymised(col, born, out)
        else:
            out.update(
                family=col["code"], caregiver=col["key"],
                completed_on=[d.isoformat() for d in col["completed_on"]],
                submitted_at=[d.isoformat() for d in col["submitted_at"]],
                infant_due_date=[d.isoformat() if d else None for d in col["due_date"]],
                infant_date_of_birth=[d.isoformat() if d else None for d in born],
            )
        out.update(
            caregiver_role=col["role"], caregiver_age=col["age"], instrument=col["instrument"],
            instrument_version=col["instrument_version"], time_point=col["time_point"],
            instance=col["instance"], version=col["version"], input=col["input_kind"],
            submitted_via=col["submitted_via"], gestational_age_at_birth_weeks=col["gestation_weeks"],
        )
        parts = self._instrument_cells(col, n, out)
        arrays = []
        for f in self.schema:
            if f.name in parts:
                arrays.append(self._spread(f, parts[f.name], col["id"]))
            elif f.name in out:
                arrays.append(_typed(f, out[f.name], col["id"], None))
            else:
                arrays.append(pa.nulls(n, f.type))
        return pa.Table.from_arrays(arrays, schema=self.schema)

    def _births(self, col: dict[str, tuple[Any, ...]]) -> list[date | None]:
        """Each row's infant date of birth, decrypted once per infant in the chunk."""
        births: dict[int, date | None] = {}
        out: list[date | None] = []
        for infant, blob in zip(col["infant_id"], col["ciphertext"], strict=True):
            if infant is None or blob is None:
                out.append(None)
                continue
            if infant not in births:
                dob = self.keys.decrypt(blob, f"infant:{infant}").get("date_of_birth")
                births[infant] = date.fromisoformat(dob) if dob else None
            out.append(births[infant])
        return out

    def _pseudonymised(self, col: dict[str, tuple[Any, ...]], born: list[date | None],
                       out: dict[str, Any]) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        domains = [s or "none" for s in col["study_id"]]
        for name, ids in (("family", col["family_id"]), ("caregiver", col["caregiver_id"])):
            pairs = list(zip(domains, ids, strict=True))
            # one keyed hash per distinct person in the chunk, not one per row
            known = {p: self.keys.pseudonym(p[0], name, p[1]) for p in set(pairs)}
            out[name] = list(map(known.__getitem__, pairs))

        def days(dates: Any) -> Any:
            # day numbers (pyarrow's conversion of date objects would import pandas)
            return pa.array([d.toordinal() if d else None for d in dates], pa.int64())

        done = days(col["completed_on"])
        out["day_from_due_date"] = pc.subtract(done, days(col["due_date"]))
        out["infant_age_days"] = pc.subtract(done, days(born))

    def _instrument_cells(self, col: dict[str, tuple[Any, ...]], n: int,
                          out: dict[str, Any]) -> dict[str, list[tuple[list[int], Any]]]:
        """Items and scores (by instrument: its rows and its values) into ``parts``; flags
        (0/1 arrays) into ``out``."""
        import numpy as np

        items_all = _decode(col["item_scores"], self._json[0])
        scores_all = _decode(col["scores"], self._json[1])
        flags_all = _decode(col["flags"], self._json[2], _flag_columns)
        rows_of: dict[str, list[int]] = {}
        for i, inst in enumerate(col["instrument"]):
            rows_of.setdefault(inst, []).append(i)
        parts: dict[str, list[tuple[list[int], Any]]] = {}
        for inst, idx in rows_of.items():
            items = [items_all[i] or [] for i in idx]
            scores = [scores_all[i] or {} for i in idx]
            names = [f"{inst}_{k}" for k in range(1, max(map(len, items)) + 1)]
            seen = set().union(*scores)
            if not (self.scores.issuperset(names) and self.scores.issuperset(seen)):
                self._refuse(col, items_all, scores_all, flags_all)
            for name, values in zip(names, zip_longest(*items), strict=True):
                parts.setdefault(name, []).append((idx, values))
            for name in seen:
                parts.setdefault(name, []).append((idx, [d.get(name) for d in scores]))
        for i, flags in enumerate(flags_all):
            for name in flags:
                if name not in self.flags:
                    self._refuse(col, items_all, scores_all, flags_all)
                if name not in out:
                    out[name] = np.zeros(n, dtype=np.int8)
                out[name][i] = 1
        for name in self.flags - out.keys():
            out[name] = np.zeros(n, dtype=np.int8)
        return parts

    def _refuse(self, col: dict[str, tuple[Any, ...]], items_all: list[Any],
                scores_all: list[Any], flags_all: list[Any]) -> NoReturn:
        """Raise for the first row (in id order) holding a value that has no column."""
        rows = zip(col["id"], col["instrument"], col["instrument_version"], items_all,
                   scores_all, flags_all, strict=True)
        for rid, inst, version, items, scores, flags in rows:
            keys = {f"{inst}_{k}" for k in range(1, len(items or ()) + 1)} | set(scores or {})
            extra = keys - self.scores
            extra |= set(flags) - self.flags
            if extra:
                raise StoreError(
                    f"assessment {rid}: {', '.join(sorted(extra))} is not a column of "
                    f"{inst} (stored with version {version}); "
                    "the export stops rather than drop it"
                )
        raise StoreError("a stored value has no column of the export; it stops rather than "
                         "drop it")

    @staticmethod
    def _spread(field: pa.Field, parts: list[tuple[list[int], Any]],
                ids: tuple[int, ...]) -> pa.Array:
        """One column from each instrument's values on its rows (null elsewhere)."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        column = None
        for idx, values in parts:
            typed = _typed(field, values, ids, idx)
            if len(idx) != len(ids):
                where = np.full(len(ids), -1, dtype=np.int64)
                where[idx] = np.arange(len(idx))
                typed = typed.take(pa.array(where, mask=where < 0))
            column = typed if column is None else pc.coalesce(column, typed)
        return column


def _typed(field: pa.Field, values: Any, ids: tuple[int, ...], idx: list[int] | None) -> Any:
    """``values`` as an Arrow array of the column's type; a value that does not fit is an
    error naming the assessment and the column."""
    import pyarrow as pa

    if isinstance(values, pa.Array):
        return values.cast(field.type)
    try:
        return pa.array(values, field.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        for k, value in enumerate(values):
            try:
                pa.array([value], field.type)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
                rid = ids[idx[k] if idx is not None else k]
                raise StoreError(
                    f"assessment {rid}: {field.name} is {value!r}, which is not a "
                    f"{field.type} value; the export stops rather than change it") from None
        raise
