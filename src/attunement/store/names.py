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
    """A site name in NFKC with single spaces; refuses look-alike constructions."""
    norm = " ".join(unicodedata.normalize("NFKC", value).split())
    _check_characters(norm, field, "the name")
    for word in norm.split(" "):
        _check_scripts(word, field, "the name")
    return norm


def skeleton(value: str) -> str:
    """What a name looks like: NFKC, confusable letters as Latin, case-folded."""
    return unicodedata.normalize("NFKC", value).casefold().translate(_CONFUSABLE)


def same_looking(name: str, existing: Iterable[str]) -> str | None:
    """The existing name that ``name`` would be confused with, if any."""
    key = skeleton(name)
    return next((other for other in existing if skeleton(other) == key), None)


def fold(value: str) -> str:
    """The comparison form of an e-mail address or a name: NFKC, case-folded, trimmed."""
    return unicodedata.normalize("NFKC", value.strip()).casefold()


def email(value: str, field: str = "email") -> str:
    """An e-mail address in NFKC, case-folded; refuses look-alike constructions."""
    norm = unicodedata.normalize("NFKC", value.strip()).casefold()
    _check_characters(norm, field, "the address")
    if not _EMAIL.match(norm):
        raise StoreValidationError(field, f"{value!r} is not an email address")
    local, _, domain = norm.rpartition("@")
    for part in (local, *domain.split(".")):
        _check_scripts(part, field, "the address")
    return norm
