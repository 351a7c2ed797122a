"""Names people read and compare: site names and e-mail addresses.

Text is normalised to Unicode NFKC (so full-width or ligature forms become plain letters)
and compared case-folded. Look-alikes are refused: invisible and control characters, and
words that mix scripts (a Cyrillic "а" inside "North"), after the mixed-script and
confusable detection of Unicode Technical Standard #39 (Unicode Security Mechanisms,
https://www.unicode.org/reports/tr39/); a site whose skeleton (confusable letters mapped to
their Latin look-alike, case-folded) equals an existing site's is refused as a duplicate.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from attunement.store.errors import StoreValidationError

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Cyrillic and Greek letters that look like Latin ones (a subset of UTS #39 confusables.txt)
_CONFUSABLE = str.maketrans({
    **dict(zip("аеорсухіјѕԁԛԝһӏ", "aeopcyxijsdqwhl", strict=True)),
    **dict(zip("АВЕКМНОРСТУХІЈЅ", "abekmhopctyxijs", strict=True)),
    **dict(zip("αοντιϲυκχρ", "aovticukxp", strict=True)),
    **dict(zip("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "abezhikmnoptyx", strict=True)),
})


def _script(ch: str) -> str | None:
    """The script of a letter (first word of its Unicode name), None for anything else."""
    if not ch.isalpha():
        return None
    name = unicodedata.name(ch, "")
    return name.split(" ", 1)[0] if name else "UNKNOWN"


def _check_characters(value: str, field: str, what: str) -> None:
    for ch in value:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cf", "Co", "Cs", "Cn") or (cat.startswith("Z") and ch != " "):
            raise StoreValidationError(
                field, f"{what} contains an invisible or control character (U+{ord(ch):04X})"
            )


def _check_scripts(word: str, field: str, what: str) -> None:
    scripts = {s for s in map(_script, word) if s is not None}
    if len(scripts) > 1:
        raise StoreValidationError(
            field,
            f"{what} mixes letters of different scripts ({', '.join(sorted(scripts)).lower()}) "
            f"in {word!r}, which makes look-alike names; use one script per word",
        )


def site_name(value: str, field: str = "name") -> str:
    r"""Check and tidy a new site's name: NFKC, single spaces, no look-alike letters.

    Parameters
    ----------
    value : str
        The name as typed.
    field : str, default "name"
        The field an error names.

    Returns
    -------
    str
        The name as it will be stored.

    Raises
    ------
    StoreValidationError
        For an invisible or control character, or a word mixing scripts (Latin and
        Cyrillic letters, say).

    Examples
    --------
    >>> site_name("  North   Clinic ")
    'North Clinic'
    >>> site_name("N\u043erth")
    Traceback (most recent call last):
    ...
    attunement.store.errors.StoreValidationError: name: the name mixes letters of different scripts (cyrillic, latin) in 'Nоrth', which makes look-alike names; use one script per word
    """
    norm = " ".join(unicodedata.normalize("NFKC", value).split())
    _check_characters(norm, field, "the name")
    for word in norm.split(" "):
        _check_scripts(word, field, "the name")
    return norm


def _skeleton(value: str) -> str:
    """What a name looks like: NFKC, confusable letters as Latin, case-folded."""
    return unicodedata.normalize("NFKC", value).casefold().translate(_CONFUSABLE)


def same_looking(name: str, existing: Iterable[str]) -> str | None:
    """Find the existing site name a new one could be mistaken for.

    Names are compared by their skeleton: NFKC, case-folded, Cyrillic and Greek look-alike
    letters read as Latin.

    Parameters
    ----------
    name : str
        The proposed name.
    existing : iterable of str
        The names already in use.

    Returns
    -------
    str or None
        The clashing existing name, or None when the new name is distinct.

    Examples
    --------
    >>> same_looking("NORTH", ["North", "South"])
    'North'
    >>> same_looking("East", ["North", "South"]) is None
    True
    """
    key = _skeleton(name)
    return next((other for other in existing if _skeleton(other) == key), None)


def fold(value: str) -> str:
    """Give the form in which two e-mail addresses or names are compared.

    Parameters
    ----------
    value : str
        An address or a name as typed: "Lead@Example.ORG " and "lead@example.org" fold
        to the same text, as do a name's full-width and ordinary letters.

    Returns
    -------
    str
        ``value`` trimmed, in NFKC and case-folded.

    Examples
    --------
    >>> fold("  Lead@Example.ORG ")
    'lead@example.org'
    """
    return unicodedata.normalize("NFKC", value.strip()).casefold()


def email(value: str, field: str = "email") -> str:
    """Check an e-mail address and return the form the accounts keep.

    Parameters
    ----------
    value : str
        The address as typed.
    field : str, default "email"
        The field an error names.

    Returns
    -------
    str
        The address in NFKC, case-folded.

    Raises
    ------
    StoreValidationError
        When it is not an address, or holds invisible characters or mixed scripts.

    Examples
    --------
    >>> email("midwife.example.org")
    Traceback (most recent call last):
    ...
    attunement.store.errors.StoreValidationError: email: 'midwife.example.org' is not an email address
    >>> email(" Midwife@Example.org")
    'midwife@example.org'
    """
    norm = unicodedata.normalize("NFKC", value.strip()).casefold()
    _check_characters(norm, field, "the address")
    if not _EMAIL.match(norm):
        raise StoreValidationError(field, f"{value!r} is not an email address")
    local, _, domain = norm.rpartition("@")
    for part in (local, *domain.split(".")):
        _check_scripts(part, field, "the address")
    return norm
