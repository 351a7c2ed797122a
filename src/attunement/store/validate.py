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
    value = text(value, field, max_len=320)
    assert value is not None
    from attunement.store.names import email as normalised_email

    return normalised_email(value, field)


def password(value: Any, field: str = "password", *, email_: str = "") -> str:
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
    if value is None or isinstance(value, bool):
        return value
    raise StoreValidationError(field, f"{value!r} is not true or false")


def nhs_number(value: Any, field: str) -> str:
    """An NHS number: 10 digits whose last is the modulus-11 check digit."""
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
    """Collect identifier fields (flat keys or a nested ``identifiers`` object)."""
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
