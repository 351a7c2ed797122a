"""The platform store: SQLAlchemy 2 models, Alembic migrations, scoping, audit, identifiers.

>>> from attunement.store import Store
>>> store = Store.open("sqlite:///attunement.db", key_path="identifier.key")  # doctest: +SKIP
>>> store.init("admin@example.org", "a long passphrase")                      # doctest: +SKIP

Everything the web app and the CLI do with data goes through :class:`Store` with an
:class:`Actor`; site scoping and role rules live in one place (:mod:`attunement.store.scope`).
SQLite (WAL, foreign keys, busy timeout) is the embedded default; ``postgresql+psycopg://…``
runs the same code on PostgreSQL. Writers are serialised (SQLite ``BEGIN IMMEDIATE``,
PostgreSQL advisory transaction lock) because every write appends to the hash-chained audit log.

Notes on the platform contract (additions, no breaking deviations):

* ``get_family``/``list_assessments`` caregivers: ``"id"`` is the family-file caregiver id
  (e.g. ``"mother"``, the string ``add_assessment``/``create_link`` take), ``"pk"`` the
  database id. ``end_caregiver`` accepts either.
* Assessments carry ``instance`` (a repeat at the same caregiver x instrument x time point is a
  new instance, never an overwrite) and ``version`` (corrections). ``add_assessment`` takes an
  optional ``submission_key`` that makes a retried submission idempotent.
* When a family has a study with a schedule, ``time_point`` must be one of its time points.
* Alerts are opened for flags of kind ``safety``, ``safety_unanswered`` and ``review``.
* ``add_user(..., studies=[...])`` grants a researcher studies; a researcher also sees the
  studies running at their sites. Researchers see families enrolled in those studies,
  pseudonymised (keyed-hash ids, day offsets, no identifiers), read-only.
* The infant's birth and due dates are clinical scheduling anchors kept in the clinical table;
  names, NHS/medical record numbers, addresses, phone numbers, e-mails and caregivers' dates
  of birth are encrypted (AES-256-GCM) in ``identities``.
* Extra methods: ``set_user_active``, ``revoke_api_token``, ``observation_content``,
  ``dialect``; ``list_alerts(include_acknowledged=)``, ``audit_log(family_id=)``.
"""

from __future__ import annotations

from attunement.store.audit import AuditReport
from attunement.store.db import default_key_path, default_url
from attunement.store.errors import (
    AuthError,
    Forbidden,
    KeyFileError,
    NotFound,
    StoreError,
    StoreValidationError,
)
from attunement.store.scope import Actor
from attunement.store.service import Store

__all__ = [
    "Actor",
    "AuditReport",
    "AuthError",
    "Forbidden",
    "KeyFileError",
    "NotFound",
    "Store",
    "StoreError",
    "StoreValidationError",
    "default_key_path",
    "default_url",
]
