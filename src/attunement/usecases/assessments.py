"""Questionnaire submissions: scored here (:mod:`attunement.instruments`), stored by the store.

The store checks scope, caregiver, time point, submission key and immutability and writes the
rows; the scoring is this module's :func:`score`, handed to the store's write methods so that it
runs after the store's checks and inside the same transaction (a caregiver's form variants
are read there), exactly as before the scoring moved out of the store.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date
from typing import Any

from attunement.store import Actor, Store, StoreValidationError, Submission


def score(
    instrument: str, responses: list[int | None], input_kind: str, variants: list[str] | None,
    *, thresholds: dict[str, float] | None = None,
) -> Any:
    """Score one questionnaire for the store (a :data:`attunement.store.assessments.Scorer`).

    Parameters
    ----------
    instrument
        The instrument id (``"epds"``).
    responses
        The answers in item order; ``None`` = not answered.
    input_kind
        ``"scores"`` or another of the store's input kinds.
    variants
        The caregiver's form variants for this instrument, or None.
    thresholds
        Cut-off overrides (the cut-offs of the language the answers were given in).

    Returns
    -------
    ScoredAssessment
        What :func:`attunement.instruments.score_responses` returns.

    Raises
    ------
    StoreValidationError
        ``instrument`` when unknown; ``responses`` / ``responses.<item>`` when the answers
        cannot be scored.

    Examples
    --------
    >>> score("epds", [0] * 10, "scores", None).scores["epds_total"]
    0
    """
    from attunement.instruments import ScoringError, UnknownInstrument, score_responses

    try:
        return score_responses(instrument, responses, input=input_kind, variant=variants,
                               thresholds=thresholds)
    except UnknownInstrument as exc:
        raise StoreValidationError("instrument", str(exc)) from exc
    except ScoringError as exc:
        column = getattr(exc, "column", None)
        reason = getattr(exc, "reason", None) or str(exc)
        field = "responses"
        if column:
            tail = str(column).rsplit("_", 1)[-1]
            field = f"responses.{tail}" if tail.isdigit() else f"responses.{column}"
        raise StoreValidationError(field, reason) from exc


def submit_assessment(
    store: Store,
    actor: Actor,
    family_id: int,
    caregiver: str,
    instrument: str,
    time_point: str,
    responses: list[int | None],
    *,
    input: str = "scores",
    submission_key: str | None = None,
    completed_on: date | str | None = None,
) -> dict:
    """Score and store one questionnaire in one transaction; urgent flags open alerts.

    Parameters
    ----------
    store, actor
        The open store and who submits.
    family_id, caregiver, instrument, time_point, responses
        What was answered, by whom, when in the schedule.
    input, submission_key, completed_on
        As :class:`attunement.store.Submission` holds them (``submission_key``: a retried
        submission with the same key returns the first one).

    Returns
    -------
    dict
        The stored assessment (as ``list_assessments`` lists it).

    Examples
    --------
    >>> stored = submit_assessment(store, practitioner, family, "father", "phq9", "6w",
    ...                            [0, 1, 1, 0, 0, 0, 0, 0, 0])
    >>> stored["scores"]["phq9_total"], stored["scores"]["phq9_severity"]
    (2, 'minimal')
    """
    result = store.assessments.add_assessments([Submission(
        actor, family_id, caregiver, instrument, time_point, responses, input=input,
        submission_key=submission_key, completed_on=completed_on)], score=score)[0]
    if isinstance(result, Exception):
        raise result
    return result


def submit_assessments(store: Store, submissions: Iterable[Submission]) -> list[dict | Exception]:
    """Score and store many submissions with ONE commit (group commit), each all-or-nothing.

    Parameters
    ----------
    store
        The open store.
    submissions
        :class:`attunement.store.Submission` records.

    Returns
    -------
    list
        In order, the stored assessment or the error that rejected that submission (see
        :meth:`attunement.store.assessments.Assessments.add_assessments`).

    Examples
    --------
    A batch of two: the unknown questionnaire is refused, the other one is kept.

    >>> from attunement.store import Submission
    >>> done = submit_assessments(store, [
    ...     Submission(practitioner, family, "mother", "epds", "6w", [0] * 10),
    ...     Submission(practitioner, family, "mother", "edps", "6w", [0] * 10)])
    >>> done[0]["scores"]["epds_total"], type(done[1]).__name__
    (0, 'StoreValidationError')
    """
    return store.assessments.add_assessments(submissions, score=score)


def correct_assessment(
    store: Store,
    actor: Actor,
    assessment_id: int,
    responses: list[int | None],
    *,
    reason: str,
    input: str | None = None,
) -> dict:
    """A correction: a new, rescored version (the old one stays) with a mandatory reason.

    Parameters
    ----------
    store, actor
        The open store and who corrects.
    assessment_id
        The latest version of the assessment.
    responses, reason, input
        The corrected answers, why, and optionally another input kind.

    Returns
    -------
    dict
        The new version.

    Examples
    --------
    >>> first = store.assessments.list_assessments(practitioner, family)[0]
    >>> fixed = correct_assessment(store, practitioner, first["id"], [0] * 10,
    ...                            reason="answers entered against the wrong caregiver")
    >>> fixed["version"], fixed["scores"]["epds_total"], fixed["corrected_from"] == first["id"]
    (2, 0, True)
    """
    return store.assessments.correct_assessment(
        actor, assessment_id, responses, reason=reason, input=input, rescore=_scorer_of)


def _scorer_of(version: dict[str, Any]) -> Any:
    # a correction is scored with the cut-offs its first version used: those of the language
    # the caregiver answered in, which the scores record (see scorer_in)
    language = version["scores"].get(f"{version['instrument']}_cutoffs_language")
    return scorer_in(language, version["time_point"]) if language else score


def time_point_period(time_point: str | None) -> str | None:
    """Whether a time point of the default schedule falls before or after birth.

    Parameters
    ----------
    time_point : str or None
        A time point id (``"antenatal"``, ``"6w"``, ...).

    Returns
    -------
    str or None
        ``"antenatal"`` for the default schedule's first time point, ``"postnatal"`` for its
        others; None for a study's own time point, whose period is not known here (so no
        period-specific cut-off applies).

    Examples
    --------
    >>> time_point_period("antenatal"), time_point_period("3m"), time_point_period("visit 2")
    ('antenatal', 'postnatal', None)
    """
    from attunement.vocabulary import load_vocabulary

    ids = [t.id for t in load_vocabulary().default_schedule]
    if time_point not in ids:
        return None
    return "antenatal" if time_point == "antenatal" else "postnatal"


def scorer_in(language: str | None, time_point: str | None) -> Any:
    """A scorer like :func:`score` that uses the cut-offs validated for the caregiver's language.

    The cut-offs validation studies report for that language and period replace the
    definition's (:mod:`attunement.instruments.language_cutoffs`), the flags they raise cite
    that study, and the scores record ``{instrument}_cutoffs_language`` and
    ``_cutoffs_period`` so the clinician sees which cut-offs were used. Without such
    cut-offs it scores as :func:`score` does.

    Parameters
    ----------
    language : str or None
        The language the questionnaire was answered in (``"es"``).
    time_point : str or None
        The time point, which gives the period (:func:`time_point_period`).

    Returns
    -------
    callable
        ``scorer(instrument, responses, input_kind, variants)`` returning a scored
        assessment.

    Examples
    --------
    >>> s = scorer_in("es", "6w")("epds", [1] * 9 + [0], "scores", None)
    >>> s.scores["epds_possible_depression"], s.scores["epds_cutoffs_language"]
    (False, 'es')
    """
    from attunement.instruments.language_cutoffs import language_cutoffs

    period = time_point_period(time_point)

    def _score(instrument: str, responses: list[int | None], input_kind: str,
               variants: list[str] | None) -> Any:
        entries = language_cutoffs(instrument, language, period)
        if not entries:
            return score(instrument, responses, input_kind, variants)
        scored = score(instrument, responses, input_kind, variants,
                       thresholds={c.cutoff: c.value for c in entries})
        by_column = {f"{instrument}_{c.cutoff}": c for c in entries}
        scored.flags = [
            replace(f, reason=f"{f.reason.replace(' (service threshold)', '')} "
                    f"[cut-off for answers in {e.language}]",
                    source=f"{e.source}; population: {e.population}")
            if (e := by_column.get(f.id)) else f for f in scored.flags]
        scored.scores[f"{instrument}_cutoffs_language"] = language
        scored.scores[f"{instrument}_cutoffs_period"] = period
        return scored

    return _score


def check_instrument(instrument: str) -> None:
    """Refuse an instrument that does not exist (the store's ``check_instrument``).

    Parameters
    ----------
    instrument : str
        The instrument id asked for (``"epds"``); the ids are those of the definitions
        shipped in ``attunement.instruments``.

    Raises
    ------
    StoreValidationError
        ``instrument``, naming the known instruments.

    Examples
    --------
    >>> check_instrument("epds")
    >>> check_instrument("edps")
    Traceback (most recent call last):
    ...
    attunement.store.errors.StoreValidationError: instrument: unknown instrument 'edps'; ...
    """
    from attunement.instruments import UnknownInstrument, load_instrument

    try:
        load_instrument(instrument)
    except UnknownInstrument as exc:
        raise StoreValidationError("instrument", str(exc)) from exc


def create_link(store: Store, actor: Actor, family_id: int, caregiver: str, instrument: str,
                time_point: str, *, hours: int = 72) -> str:
    """A one-time link for one caregiver to answer one questionnaire at one time point.

    Parameters
    ----------
    store, actor
        The open store and who issues the link.
    family_id, caregiver, instrument, time_point
        The family, the caregiver's key, an existing instrument and a time point of the
        family's study.
    hours
        How long the link stays valid.

    Returns
    -------
    str
        The link's secret (the store keeps only its hash).

    Examples
    --------
    >>> secret = create_link(store, practitioner, family, "mother", "epds", "6w", hours=24)
    >>> store.care.open_link(secret)["instrument"]
    'epds'
    """
    return store.care.create_link(actor, family_id, caregiver, instrument, time_point,
                                  hours=hours, check_instrument=check_instrument)


def submit_link(
    store: Store, token: str, responses: list[int | None], *, input: str = "scores",
    language: str | None = None, time_point: str | None = None,
) -> dict:
    """A caregiver's answers through their one-time link: scored, stored, the link used up.

    Parameters
    ----------
    store
        The open store.
    token
        The link's secret.
    responses, input
        The answers and their input kind.
    language, time_point
        The language the form was shown in and the link's time point: the cut-offs of that
        language and period are used (:func:`scorer_in`).

    Returns
    -------
    dict
        The stored assessment.

    Examples
    --------
    >>> secret = create_link(store, practitioner, family, "mother", "epds", "6w")
    >>> stored = submit_link(store, secret, [0] * 10, language="es", time_point="6w")
    >>> stored["submitted_via"], stored["scores"]["epds_cutoffs_language"]
    ('link', 'es')
    """
    return store.care.submit_link(token, responses, input=input,
                                  score=scorer_in(language, time_point))
