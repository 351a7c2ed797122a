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


def normalise_name(value: str) -> str:
    text = unicodedata.normalize("NFKC", str(value)).casefold()
    return " ".join(_NOT_NAME.sub(" ", text).split())


def lookup_values(data: dict[str, Any]) -> list[tuple[str, str]]:
    """The ``(field, normalised value)`` pairs indexed for one decrypted identity document."""
    out: set[tuple[str, str]] = set()
    name = normalise_name(data.get("name") or "")
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
    """What a free-text search ``q`` may be: a date (ISO), an NHS number, or a name."""
    text = str(q).strip()
    out: list[tuple[str, str]] = []
    with contextlib.suppress(ValueError):
        out.append(("date_of_birth", date.fromisoformat(text).isoformat()))
    digits = re.sub(r"[\s-]", "", text)
    if re.fullmatch(r"\d{10}", digits):
        out.append(("nhs_number", digits))
    name = normalise_name(text)
    if name:
        out.append(("name", name))
    return out
