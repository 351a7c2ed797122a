"""Blind index of identifiers: exact-match search by name, NHS number or date of birth.

Each identity row gets, beside its ciphertext, keyed hashes (:meth:`KeyRing.blind_index`) of
its normalised searchable values in ``identity_lookups``. A search hashes the query the same
way and looks the digest up through an index: no row is decrypted to match. What the table
reveals without the key: how many lookup values each person has, and which rows share a value
(equal names, twins' birth dates) — not the values themselves.

Normalisation (one place, also used by migration 0300 to fill the index):

* ``name``: Unicode NFKC, case-folded, punctuation other than hyphen and apostrophe dropped,
  whitespace collapsed; the whole name and each word of it are indexed, so "wintergreen"
  finds "Philippa Wintergreen" (a whole word, never a substring);
* ``nhs_number``: the 10 digits (spaces and hyphens dropped);
* ``date_of_birth``: ISO ``YYYY-MM-DD``.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from datetime import date
from typing import Any

SEARCHABLE = ("name", "nhs_number", "date_of_birth")
_NOT_NAME = re.compile(r"[^\w\s'\-]")


def _normalise_name(value: str) -> str:
    text = unicodedata.normalize("NFKC", str(value)).casefold()
    return " ".join(_NOT_NAME.sub(" ", text).split())


def lookup_values(data: dict[str, Any]) -> list[tuple[str, str]]:
    """List the searchable values of one person's identifiers, as the blind index keeps them.

    Parameters
    ----------
    data : dict
        A decrypted identity document (``name``, ``nhs_number``, ``date_of_birth``; other
        fields are ignored).

    Returns
    -------
    list of (str, str)
        Sorted ``(field, normalised value)`` pairs: the whole name and each of its words, the
        NHS number's ten digits, the ISO date of birth.

    Examples
    --------
    >>> lookup_values({"name": "Mina O'Neil", "nhs_number": "943 476 5919",
    ...                "date_of_birth": "1997-03-02"})
    [('date_of_birth', '1997-03-02'), ('name', 'mina'), ('name', "mina o'neil"), ('name', "o'neil"), ('nhs_number', '9434765919')]
    """
    out: set[tuple[str, str]] = set()
    name = _normalise_name(data.get("name") or "")
    if name:
        out.add(("name", name))
        out.update(("name", word) for word in name.split(" "))
    nhs = re.sub(r"[\s-]", "", str(data.get("nhs_number") or ""))
    if nhs:
        out.add(("nhs_number", nhs))
    born = data.get("date_of_birth")
    if born:
        out.add(("date_of_birth", str(born)[:10]))
    return sorted(out)


def query_values(q: str) -> list[tuple[str, str]]:
    """Read a caseload search box's text as every identifier it could be.

    Parameters
    ----------
    q : str
        What the user typed.

    Returns
    -------
    list of (str, str)
        ``(field, normalised value)`` pairs to look up: a date of birth when ``q`` is an ISO
        date, an NHS number when it has ten digits, and always a name.

    Examples
    --------
    >>> query_values("943-476-5919")
    [('nhs_number', '9434765919'), ('name', '943-476-5919')]
    >>> query_values("  EXAMPLE ")
    [('name', 'example')]
    """
    text = str(q).strip()
    out: list[tuple[str, str]] = []
    with contextlib.suppress(ValueError):
        out.append(("date_of_birth", date.fromisoformat(text).isoformat()))
    digits = re.sub(r"[\s-]", "", text)
    if re.fullmatch(r"\d{10}", digits):
        out.append(("nhs_number", digits))
    name = _normalise_name(text)
    if name:
        out.append(("name", name))
    return out
