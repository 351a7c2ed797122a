"""Input checks for the store: every error names the field and says why."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from attunement.store.errors import StoreValidationError

IDENTIFIER_FIELDS = (
    "name",
    "date_of_birth",
    "nhs_number",
    "medical_record_number",
    "address",
    "postcode",
    "phone",
    "email",
)
INPUT_KINDS = ("scores", "positions")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def text(value: Any, field: str, *, max_len: int = 200, required: bool = True) -> str | None:
    """Check a text field: trimmed, not too long, valid Unicode, no NUL.

    Parameters
    ----------
    value : object
        The value given.
    field : str
        Its name in errors (a dotted path such as ``caregivers.1.name``).
    max_len : int, default 200
        The longest text allowed, after trimming.
    required : bool, default True
        Whether blank or missing is an error (else it gives None).

    Returns
    -------
    str or None
        The trimmed text, or None for a blank optional field.

    Raises
    ------
    StoreValidationError
        Naming the field and why.

    Examples
    --------
    >>> text("  Larkspur visit ", "note")
    'Larkspur visit'
    >>> text("", "note")
    Traceback (most recent call last):
    ...
    attunement.store.errors.StoreValidationError: note: is required
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise StoreValidationError(field, "is required")
        return None
    if not isinstance(value, str):
        raise StoreValidationError(field, f"must be text, got {type(value).__name__}")
    value = value.strip()
    if len(value) > max_len:
        raise StoreValidationError(field, f"is longer than {max_len} characters")
    if "\x00" in value:
        raise StoreValidationError(field, "contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise StoreValidationError(
            field, "contains a lone surrogate (not valid Unicode text)") from None
    return value


def email(value: Any, field: str = "email") -> str:
    """Check an e-mail field given to the store (text first, then the address rules).

    Parameters
    ----------
    value : object
        The value given, as decoded from the request: a number or a list is refused as
        not text, never converted.
    field : str, default "email"
        Its name in errors.

    Returns
    -------
    str
        The address, normalised by :func:`attunement.store.names.email`.

    Raises
    ------
    StoreValidationError
        When it is missing, too long or not an address.

    Examples
    --------
    >>> email("Health.Visitor@Example.org ")
    'health.visitor@example.org'
    """
    value = text(value, field, max_len=320)
    assert value is not None
    from attunement.store.names import email as normalised_email

    return normalised_email(value, field)


def password(value: Any, field: str = "password", *, email_: str = "") -> str:
    """Check a new password's length, and that it is not the account's own e-mail.

    Parameters
    ----------
    value : object
        The password.
    field : str, default "password"
        Its name in errors.
    email_ : str, optional
        The account's e-mail address.

    Returns
    -------
    str
        The password, unchanged.

    Raises
    ------
    StoreValidationError
        When shorter than 8 or longer than 1024 characters, or equal to the address.

    Examples
    --------
    >>> password("short")
    Traceback (most recent call last):
    ...
    attunement.store.errors.StoreValidationError: password: must be at least 8 characters (15 or more recommended)
    """
    if not isinstance(value, str) or not value:
        raise StoreValidationError(field, "is required")
    if len(value) < 8:
        raise StoreValidationError(field, "must be at least 8 characters (15 or more recommended)")
    if len(value) > 1024:
        raise StoreValidationError(field, "must be at most 1024 characters")
    if email_ and value.lower() == email_.lower():
        raise StoreValidationError(field, "must not be the email address")
    return value


def a_date(value: Any, field: str, *, required: bool = False) -> date | None:
    """Read a date given as a date, a datetime or ISO text.

    Parameters
    ----------
    value : object
        ``YYYY-MM-DD``, an ISO timestamp, a date or a datetime.
    field : str
        Its name in errors.
    required : bool, default False
        Whether a missing date is an error (else it gives None).

    Returns
    -------
    date or None
        The date.

    Raises
    ------
    StoreValidationError
        For anything that is not a date (``15/09/2026``, say).

    Examples
    --------
    >>> a_date("2026-09-15", "infant.date_of_birth")
    datetime.date(2026, 9, 15)
    >>> a_date("15/09/2026", "infant.date_of_birth")
    Traceback (most recent call last):
    ...
    attunement.store.errors.StoreValidationError: infant.date_of_birth: '15/09/2026' is not a date (use YYYY-MM-DD)
    """
    if value is None or value == "":
        if required:
            raise StoreValidationError(field, "is required")
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text_ = value.strip()
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text_):
                return date.fromisoformat(text_)
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?", text_):
                return datetime.fromisoformat(text_.replace("Z", "+00:00")).date()
        except ValueError:
            pass
    raise StoreValidationError(field, f"{value!r} is not a date (use YYYY-MM-DD)")


def integer(
    value: Any,
    field: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    required: bool = False,
) -> int | None:
    """Read a whole number, from an int or its text, within optional bounds.

    Parameters
    ----------
    value : object
        The value given (a bool is refused).
    field : str
        Its name in errors.
    minimum, maximum : int, optional
        The bounds, inclusive.
    required : bool, default False
        Whether a missing value is an error (else it gives None).

    Returns
    -------
    int or None
        The number.

    Raises
    ------
    StoreValidationError
        For a value that is not a whole number or is out of bounds.

    Examples
    --------
    >>> integer("37", "gestational_age_at_birth_weeks", minimum=22, maximum=44)
    37
    """
    if value is None or value == "":
        if required:
            raise StoreValidationError(field, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value.strip())
        else:
            raise StoreValidationError(field, f"{value!r} is not a whole number")
    if minimum is not None and value < minimum:
        raise StoreValidationError(field, f"must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise StoreValidationError(field, f"must be at most {maximum}")
    return value


def boolean(value: Any, field: str) -> bool | None:
    """Accept only true, false or nothing for a yes/no field.

    Parameters
    ----------
    value : object
        The value given.
    field : str
        Its name in errors.

    Returns
    -------
    bool or None
        The value.

    Raises
    ------
    StoreValidationError
        For anything else (``"yes"``, ``1``).

    Examples
    --------
    >>> boolean(True, "interpreter_needed")
    True
    >>> boolean("yes", "interpreter_needed")
    Traceback (most recent call last):
    ...
    attunement.store.errors.StoreValidationError: interpreter_needed: 'yes' is not true or false
    """
    if value is None or isinstance(value, bool):
        return value
    raise StoreValidationError(field, f"{value!r} is not true or false")


def nhs_number(value: Any, field: str) -> str:
    """Check an NHS number: ten digits whose last is the modulus-11 check digit.

    Parameters
    ----------
    value : object
        The number, spaces and hyphens allowed.
    field : str
        Its name in errors (the number itself is never echoed).

    Returns
    -------
    str
        The ten digits.

    Raises
    ------
    StoreValidationError
        When the digits are not ten, or the check digit is wrong.

    Examples
    --------
    >>> nhs_number("943 476 5918", "caregivers.1.nhs_number")
    Traceback (most recent call last):
    ...
    attunement.store.errors.StoreValidationError: caregivers.1.nhs_number: the NHS number's check digit is wrong
    >>> nhs_number("943 476 5919", "caregivers.1.nhs_number")
    '9434765919'
    """
    digits = re.sub(r"[\s-]", "", str(value))
    if not re.fullmatch(r"\d{10}", digits):
        raise StoreValidationError(field, "an NHS number has 10 digits")
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    if check == 10 or check != int(digits[9]):
        raise StoreValidationError(field, "the NHS number's check digit is wrong")
    return digits


def identifiers(source: dict[str, Any], field: str, *, infant: bool = False) -> dict[str, str]:
    """Collect and check a person's identifiers from a family-file entry.

    They may be flat keys or a nested ``identifiers`` object; errors never echo the value.

    Parameters
    ----------
    source : dict
        The infant's or a caregiver's entry.
    field : str
        The entry's path in errors (``caregivers.1``).
    infant : bool, default False
        For the infant, whose date of birth is clinical data (the schedule's anchor), not
        an identifier.

    Returns
    -------
    dict of str to str
        The identifiers present, normalised (NHS number's digits, ISO dates).

    Raises
    ------
    StoreValidationError
        For an unknown identifier field, or an invalid value (named, never echoed).

    Examples
    --------
    >>> identifiers({"role": "birth_mother", "name": "Mina Example",
    ...              "identifiers": {"nhs_number": "943-476-5919"}}, "caregivers.1")
    {'nhs_number': '9434765919', 'name': 'Mina Example'}
    """
    found: dict[str, Any] = {}
    nested = source.get("identifiers")
    if nested is not None:
        if not isinstance(nested, dict):
            raise StoreValidationError(f"{field}.identifiers", "must be an object")
        unknown = sorted(set(nested) - set(IDENTIFIER_FIELDS))
        if unknown:
            raise StoreValidationError(
                f"{field}.identifiers.{unknown[0]}",
                f"is not an identifier field (allowed: {', '.join(IDENTIFIER_FIELDS)})",
            )
        found.update(nested)
    for key in IDENTIFIER_FIELDS:
        if infant and key == "date_of_birth":
            continue  # the infant's birth date is the clinical scheduling anchor
        if key in source:
            found[key] = source[key]
    out: dict[str, str] = {}
    for key, value in found.items():
        if value is None or value == "":
            continue
        where = f"{field}.{key}"
        if key == "nhs_number":
            out[key] = nhs_number(value, where)
        elif key == "date_of_birth":
            try:
                d = a_date(value, where)
            except StoreValidationError:  # never echo an identifier back into messages or logs
                raise StoreValidationError(where, "is not a date (use YYYY-MM-DD)") from None
            assert d is not None
            out[key] = d.isoformat()
        elif key == "email":
            try:
                out[key] = email(value, where)
            except StoreValidationError:
                raise StoreValidationError(where, "is not an email address") from None
        else:
            out[key] = text(value, where, max_len=500) or ""
    return out


def responses(value: Any, field: str = "responses") -> list[int | None]:
    """Check a questionnaire's answers: a list of whole item scores, None for a skipped item.

    Parameters
    ----------
    value : object
        The answers.
    field : str, default "responses"
        Their name in errors; an item's error adds its number from 1.

    Returns
    -------
    list of int or None
        The item scores.

    Raises
    ------
    StoreValidationError
        For a non-list or an item that is not a whole number.

    Examples
    --------
    >>> responses([1, 2.0, None])
    [1, 2, None]
    >>> responses([1, "2"])
    Traceback (most recent call last):
    ...
    attunement.store.errors.StoreValidationError: responses.2: '2' is not a whole number
    """
    if not isinstance(value, list | tuple):
        raise StoreValidationError(field, "must be a list of item scores")
    out: list[int | None] = []
    for i, v in enumerate(value, start=1):
        if v is None:
            out.append(None)
        elif (
            isinstance(v, bool)
            or not isinstance(v, int | float)
            or (isinstance(v, float) and not v.is_integer())
        ):
            raise StoreValidationError(f"{field}.{i}", f"{v!r} is not a whole number")
        else:
            out.append(int(v))
    return out
