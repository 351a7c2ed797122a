"""The platform store: SQLAlchemy 2 models, Alembic migrations, scoping, audit, identifiers.

>>> from attunement.store import Store
>>> with Store.open(f"sqlite:///{tmp_path / 'care.db'}",
...                 key_path=tmp_path / "care-keys" / "identifier.key") as care:
...     care.init("admin@example.org", "a long passphrase")
...     care.ping()
True

The examples in this package's docstrings run (``tests/docstrings/test_examples.py``) against
a fresh SQLite store that ``tests/docstrings/globs.py`` builds for each module with the
store's own API, and may use these names without defining them:

* ``store``: the open :class:`Store`, in the folder ``tmp_path`` (``store.db``,
  ``keys/id.key``);
* ``system``, ``admin``, ``lead``, ``practitioner``, ``researcher``: :class:`Actor` objects: the
  local operator, the administrator ``admin@example.org``, a site lead and a practitioner at
  North (``lead@example.org``, ``practitioner@example.org``) and a researcher granted the
  study (``researcher@example.org``); ``user_password`` is their password;
* ``site``: the id of the site North (a second site, South, runs no study);
* ``study``: the id of the study Attach-1 at North (time points ``baseline``, due date - 60
  days, EPDS; ``6w``, + 42 days, EPDS and PHQ-9; windows of 30 and 14 days);
* ``family``: the id of family N-001 at North in Attach-1, registered by the practitioner:
  infant due 2026-09-20, born 2026-09-15; caregivers ``mother`` (an NHS number, an e-mail
  address and a baseline EPDS) and ``father``;
* ``family_file(code)``: a family file like N-001's under another code, to register more.

Everything the web app and the CLI do with data goes through :class:`Store`'s services
(``store.accounts``, ``store.families``, ``store.assessments``, ``store.care``,
``store.observations``, ``store.exports``, ``store.trials``, ``store.referrals``,
``store.outreach``, ``store.maintenance``; see ``docs/store.md``) with an :class:`Actor`; the
access rules live in :mod:`attunement.policy`, the site-scoping row filter in
:mod:`attunement.store.scope`.
SQLite (WAL, foreign keys, busy timeout) is the embedded default; ``postgresql+psycopg://…``
runs the same code on PostgreSQL. Every write appends to the hash-chained audit log.

Notes on the platform contract (additions, no breaking deviations):

* ``get_family``/``list_assessments`` caregivers: ``"id"`` is the family-file caregiver id
  (e.g. ``"mother"``, the string ``Submission``/``create_link`` take), ``"pk"`` the
  database id. ``end_caregiver`` accepts either.
* ``create_family`` validates the family-file part with the ``check_file`` it is given
  (:func:`attunement.usecases.families.check_family_file`: ``attunement.risk.validate_family``
  and the recorded answers (``context``) against the factor definitions, family- or
  caregiver-level); errors use dotted paths (``caregivers.1.role``). Scoring is likewise the
  ``score`` argument (:func:`attunement.usecases.assessments.score`). ``assessed_on`` defaults
  to today; responses in the file become assessments at ``payload["time_point"]`` (default
  ``"baseline"``) completed on ``assessed_on``. The infant may carry
  ``gestational_age_at_birth_weeks`` (``gestation_weeks`` accepted); caregivers may carry
  ``variants`` (form variants per instrument), which scoring then uses.
* Assessments carry ``instance`` (a repeat at the same caregiver x instrument x time point is a
  new instance, never an overwrite), ``version`` (corrections), ``completed_on`` (the date the
  questionnaire was answered) and ``item_scores`` (keyed, canonical item order).
  ``Submission`` takes optional ``submission_key`` (a retried submission with the same key
  returns the first one) and ``completed_on``. The database refuses UPDATE/DELETE on
  ``assessments`` and ``audit_log`` (triggers).
* When a family has a study with a schedule, ``time_point`` must be one of its time points;
  ``list_families``/``get_family`` list ``due`` and ``overdue`` caregiver x instrument x time
  point items (window = ``offset_days`` ± ``window_days`` from the due date or birth date).
* ``caseload_page`` / ``alerts_page``: the caseload (one SQL query; filters ``mine``,
  ``overdue``, ``urgent``, ``study``, ``time_point``; counts) and the alerts in keyset pages
  with opaque ``next``/``previous`` cursors; ``q`` searches family codes and, for clinical
  roles, names, NHS numbers and dates of birth through a keyed blind index (exact, audited;
  see ``docs/caseload-queries.md``).
* Alerts are opened for flags whose kind opens an alert in ``attunement.vocabulary`` (one list
  for the store and the web). ``acknowledge_alert(note=, outcome=)`` records the safety
  review; ``family_document`` then sets ``context.safety_review_completed`` (false while an
  urgent alert is open), which releases the hold on intervention matching.
* ``add_user(..., studies=[...])`` grants a researcher studies; a researcher also sees the
  studies running at their sites. Researchers see families enrolled in those studies,
  read-only and pseudonymised: keyed-hash ids per study, no identifiers, day offsets instead
  of dates (``family_document`` shifts all dates of a family by one secret per-family offset
  so ages and intervals, hence the profile, are unchanged).
* Names, dates of birth (infant and caregivers), NHS/medical record numbers, addresses,
  postcodes, phone numbers and e-mails are encrypted (AES-256-GCM, bound to their row) in
  ``identities``; the infant's due date and gestation at birth stay clinical data (the
  schedule's anchor). ``update_infant`` records the birth or a revised due date;
  ``update_identifiers`` corrects identifiers.
* Extra methods (each on its service): ``ping``, ``dialect``, ``transfer_family`` (admin), ``update_infant``,
  ``update_identifiers``, ``add_consent``, ``withdraw_consent``, ``set_user_active``,
  ``set_password``, ``revoke_api_token``, ``observation_content``; keyword extras
  ``add_user(expires_on=)``, ``list_alerts(include_acknowledged=)``, ``audit_log(family_id=)``,
  ``list_assessments(include_superseded=)``, ``correct_assessment(input=)``,
  ``submit_link(input=)``, ``end_caregiver(left_on=)``, ``create_api_token(days=)``,
  ``restore(key_path=)``.
* Login throttling: 5 failures per account (or 30 per client) within 15 minutes block further
  attempts until the window passes (``AuthError.retry_after``); a success resets the count.
* Writers are serialised: in one process on a lock, across processes by SQLite's
  ``BEGIN IMMEDIATE`` or PostgreSQL's advisory transaction lock (the audit chain needs a
  total order).
* Backups never contain the identifier key file: keep it separately.
"""

from __future__ import annotations

from attunement.store import observation_measures as _observation_measures  # noqa: F401  (registers its table)
from attunement.store.audit import AuditReport
from attunement.store.db import default_key_path, default_url
from attunement.store.errors import (
    AuthError,
    Forbidden,
    KeyFileError,
    NotFound,
    StorageFull,
    StoreError,
    StoreValidationError,
)
from attunement.store.outreach import OutreachRecords
from attunement.store.referrals import Referrals
from attunement.store.scope import Actor
from attunement.store.service import SAFETY_REVIEW_OUTCOMES, Store, Submission
from attunement.store.trials import StudyTrials

__all__ = [
    "SAFETY_REVIEW_OUTCOMES",
    "Actor",
    "AuditReport",
    "AuthError",
    "Forbidden",
    "KeyFileError",
    "NotFound",
    "OutreachRecords",
    "Referrals",
    "StorageFull",
    "Store",
    "StoreError",
    "StoreValidationError",
    "StudyTrials",
    "Submission",
    "default_key_path",
    "default_url",
]
