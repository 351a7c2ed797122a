"""Parsing of the dynamic HTML forms (family registration, questionnaires) with field errors.

Every error names the form field it belongs to, so a page can show it next to the field and in
the error summary, and re-render the form with exactly what the person typed.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from attunement.web.content import vocabulary_choices

MAX_CAREGIVERS = 8
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_CAREGIVER_ID = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class FormErrors(dict[str, str]):
    """``{field name: message}`` in the order found."""

    def add(self, field: str, message: str) -> None:
        """Record a message for a field, keeping the first one if it already has one.

        Parameters
        ----------
        field : str
            The form field's name (``"caregivers.0.role"``).
        message : str
            What the person should do, in plain words.
        """
        self.setdefault(field, message)


def normalise_field(field: str) -> str:
    """Turn a store error path into a form field name.

    Parameters
    ----------
    field : str
        The path, e.g. ``caregivers[1].role``.

    Returns
    -------
    str
        The field name, e.g. ``caregivers.1.role``.
    """
    return re.sub(r"\[(\d+)\]", r".\1", field).strip(".")


def texts(form: Any, *names: str, strip: bool = True) -> list[str]:
    """Read some fields of a posted form as text.

    Parameters
    ----------
    form : Mapping
        The posted form.
    *names : str
        The fields to read, in order.
    strip : bool
        Remove surrounding blanks.

    Returns
    -------
    list of str
        One value per name, ``""`` where the field is missing.

    Examples
    --------
    >>> texts({"kind": " research ", "version": "2"}, "kind", "version", "given_on")
    ['research', '2', '']
    """
    values = [str(form.get(name, "")) for name in names]
    return [v.strip() for v in values] if strip else values


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _date(value: str, field: str, errors: FormErrors, label: str, *,
          past: bool = False) -> str | None:
    """A YYYY-MM-DD date; ``past``: a date of birth, never after today."""
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        errors.add(field, f"{label} must be a date written YYYY-MM-DD, not '{value}'")
        return None
    if past and day > dt.date.today():
        errors.add(field, f"{label} ({day}) is in the future; a date of birth cannot be "
                   "after today")
        return None
    return day.isoformat()


def _int(value: str, field: str, errors: FormErrors, label: str, low: int, high: int) -> int | None:
    if not value:
        return None
    try:
        number = int(value)
    except ValueError:
        errors.add(field, f"{label} must be a whole number, not '{value}'")
        return None
    if not low <= number <= high:
        errors.add(field, f"{label} must be between {low} and {high}, not {number}")
        return None
    return number


def _keys(form: Any) -> list[str]:
    return [str(k) for k in form.keys()]  # noqa: SIM118 (a multi-dict, not a dict)


def caregiver_count(form: Any) -> int:
    """How many caregiver rows the registration form has.

    Parameters
    ----------
    form : Mapping
        The posted form (its ``n_caregivers`` field).

    Returns
    -------
    int
        Between 1 and :data:`MAX_CAREGIVERS`; 2 when the field is missing or not a number.
    """
    try:
        n = int(form.get("n_caregivers", 2))
    except (TypeError, ValueError):
        n = 2
    return max(1, min(MAX_CAREGIVERS, n))


def parse_family_form(form: Any) -> tuple[dict[str, Any], FormErrors]:
    """Turn the family registration form into the store's family payload, with field errors.

    Parameters
    ----------
    form : Mapping
        The posted registration form.

    Returns
    -------
    tuple of (dict, FormErrors)
        The payload (site, family code, infant, placement, context, caregivers, optional
        study) and a message per field at fault; the payload is stored only when there are
        none.
    """
    errors = FormErrors()
    roles = {r for r, _ in vocabulary_choices("caregiver_roles")}
    site = _text(form, "site")
    if not site:
        errors.add("site", "Choose the site that will care for this family")
    code = _text(form, "family_id")
    if not code:
        errors.add("family_id", "Enter the family's study code, e.g. FAM-0042")
    elif not _CODE.match(code):
        errors.add(
            "family_id",
            "The family code may use letters, digits, '-', '_' and '.' only (up to 64)",
        )
    placement = _text(form, "placement") or "birth_family"
    if placement not in {p for p, _ in vocabulary_choices("placements")}:
        errors.add("placement", f"Unknown placement '{placement}'")
    infant: dict[str, Any] = {}
    dob = _date(_text(form, "infant.date_of_birth"), "infant.date_of_birth", errors,
                "The infant's date of birth", past=True)
    due = _date(_text(form, "infant.due_date"), "infant.due_date", errors, "The due date")
    if dob:
        infant["date_of_birth"] = dob
    if due:
        infant["due_date"] = due
    if not dob and not due and "infant.date_of_birth" not in errors and "infant.due_date" not in errors:
        errors.add("infant.due_date", "Enter the due date or the infant's date of birth")
    gestation = _int(_text(form, "infant.gestation_weeks"), "infant.gestation_weeks", errors,
                     "Gestation at birth (weeks)", 20, 45)
    if gestation is not None:
        infant["gestation_weeks"] = gestation
    for key in ("name", "nhs_number"):
        value = _text(form, f"infant.{key}")
        if value:
            infant[key] = value

    family_context = {key.split(".", 1)[1]: True for key in _keys(form)
                      if key.startswith("context.") and form.get(key)}
    caregivers: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i in range(caregiver_count(form)):
        p = f"caregivers.{i}."
        role = _text(form, p + "role")
        cid = _text(form, p + "id")
        others = [_text(form, p + k) for k in ("name", "age", "date_of_birth", "nhs_number",
                                                "first_time_parent")]
        others += [k for k in _keys(form) if k.startswith(p + "context.") and form.get(k)]
        # an optional row left as the form drew it (only its suggested id) is not a caregiver
        if not role and cid in ("", f"cg{i + 1}") and not any(others) and (i > 0 or not cid):
            continue  # an empty extra row
        if role not in roles:
            errors.add(p + "role", f"Choose caregiver {i + 1}'s role")
        if not cid:
            errors.add(p + "id", f"Give caregiver {i + 1} a short id, e.g. 'mother' or 'cg{i + 1}'")
        elif not _CAREGIVER_ID.match(cid):
            errors.add(
                p + "id",
                f"Caregiver {i + 1}'s id must start with a lower-case letter and use a-z, 0-9, _",
            )
        elif cid in seen:
            errors.add(p + "id", f"Caregiver id '{cid}' is used twice in this family")
        seen.add(cid)
        caregiver: dict[str, Any] = {"id": cid, "role": role}
        context = {key.rsplit(".", 1)[1]: True for key in _keys(form)
                   if key.startswith(p + "context.") and form.get(key)}
        if context:
            caregiver["context"] = context
        age = _int(_text(form, p + "age"), p + "age", errors, f"Caregiver {i + 1}'s age", 10, 100)
        if age is not None:
            caregiver["age"] = age
        ftp = _text(form, p + "first_time_parent")
        if ftp in {"yes", "no"}:
            caregiver["first_time_parent"] = ftp == "yes"
        for key in ("name", "nhs_number", "phone"):
            value = _text(form, p + key)
            if value:
                caregiver[key] = value
        cdob = _date(_text(form, p + "date_of_birth"), p + "date_of_birth", errors,
                     f"Caregiver {i + 1}'s date of birth", past=True)
        if cdob and dt.date.fromisoformat(cdob) > dt.date.today() - dt.timedelta(days=365 * 10):
            errors.add(p + "date_of_birth", f"Caregiver {i + 1}'s date of birth ({cdob}) makes "
                       "them younger than 10; check the year")
            cdob = None
        if cdob:
            caregiver["date_of_birth"] = cdob
        caregivers.append(caregiver)
    if not caregivers:
        errors.add("caregivers.0.role", "Add at least one caregiver")
    payload: dict[str, Any] = {
        "site": site,
        "family_id": code,
        "assessed_on": dt.date.today().isoformat(),
        "infant": infant,
        "placement": placement,
        "context": family_context,
        "caregivers": caregivers,
    }
    study = _text(form, "study")
    if study:
        payload["study"] = int(study) if study.isdigit() else study
    return payload, errors


def parse_responses(form: Any, n_items: int, allowed: list[list[int | float]],
                    optional: set[int], *, unanswered: str | None = None,
                    ) -> tuple[list[int | None], FormErrors]:
    """Questionnaire answers ``item.N`` as item scores in order, with a message per bad item.

    An unanswered item is an error unless the person ticked "leave unanswered" for it
    (``skip.N``) or the item is optional: missing data is recorded on purpose, never silently.

    Parameters
    ----------
    form : Mapping
        The posted questionnaire form.
    n_items : int
        How many items the form has.
    allowed : list of list of number
        Per item, the scores its options stand for (empty: any whole number).
    optional : set of int
        The positions of optional items.
    unanswered : str, optional
        The message for an unanswered item in the caregiver's language (``{n}`` is the
        question's number).

    Returns
    -------
    tuple of (list, FormErrors)
        The scores (None where unanswered) and a message per item at fault.
    """
    errors = FormErrors()
    responses: list[int | None] = []
    for n in range(1, n_items + 1):
        raw = _text(form, f"item.{n}")
        if not raw:
            if form.get(f"skip.{n}") or n in optional:
                responses.append(None)
            else:
                errors.add(f"item.{n}", unanswered.replace("{n}", str(n)) if unanswered else
                           f"Question {n} is not answered: choose an answer or tick "
                           "'leave unanswered'")
                responses.append(None)
            continue
        try:
            value = int(raw)
        except ValueError:
            errors.add(f"item.{n}", f"Question {n}: '{raw}' is not one of the answers")
            responses.append(None)
            continue
        if allowed[n - 1] and value not in allowed[n - 1]:
            errors.add(f"item.{n}", f"Question {n}: {value} is not one of the answers")
        responses.append(value)
    return responses, errors


def item_field(field: str) -> str:
    """Map a store error's field to the questionnaire form's field.

    Parameters
    ----------
    field : str
        The store's field path: ``responses.10`` names the 10th answer (1-based).

    Returns
    -------
    str
        ``item.10`` for an answer; another path as a form field; ``"form"`` when empty.
    """
    field = normalise_field(field)
    parts = field.split(".")
    if len(parts) == 2 and parts[0] == "responses" and parts[1].isdigit():
        return f"item.{int(parts[1])}"
    return field or "form"
