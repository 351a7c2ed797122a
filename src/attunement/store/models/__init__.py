"""SQLAlchemy 2 models of the platform store, grouped like the store's services.

Clinical data and direct identifiers live in separate tables: ``identities`` holds only
ciphertext (AES-GCM, key kept outside the database), every other table holds no names,
addresses, phone numbers, NHS numbers or caregiver dates of birth.

Every model is importable from here (``from attunement.store.models import Family``):
released migrations import from this package, and importing it registers every table on
``Base.metadata``.
"""

from __future__ import annotations

from attunement.store.models import (
    accounts,
    assessments,
    care,
    caseload,
    core,
    export_jobs,
    families,
    observations,
    outreach,
    referrals,
    trials,
)
from attunement.store.models.accounts import *  # noqa: F403
from attunement.store.models.assessments import *  # noqa: F403
from attunement.store.models.care import *  # noqa: F403
from attunement.store.models.caseload import *  # noqa: F403
from attunement.store.models.core import *  # noqa: F403
from attunement.store.models.export_jobs import *  # noqa: F403
from attunement.store.models.families import *  # noqa: F403
from attunement.store.models.observations import *  # noqa: F403
from attunement.store.models.outreach import *  # noqa: F403
from attunement.store.models.referrals import *  # noqa: F403
from attunement.store.models.trials import *  # noqa: F403

# each module's own __all__ says what it models; together, every model of the store
__all__ = [
    *accounts.__all__,
    *assessments.__all__,
    *care.__all__,
    *caseload.__all__,
    *core.__all__,
    *export_jobs.__all__,
    *families.__all__,
    *observations.__all__,
    *outreach.__all__,
    *referrals.__all__,
    *trials.__all__,
]
