"""SQLAlchemy 2 models of the platform store, grouped like the store's services.

Clinical data and direct identifiers live in separate tables: ``identities`` holds only
ciphertext (AES-GCM, key kept outside the database), every other table holds no names,
addresses, phone numbers, NHS numbers or caregiver dates of birth.

Every model is importable from here (``from attunement.store.models import Family``):
released migrations import from this package, and importing it registers every table on
``Base.metadata``.
"""

from __future__ import annotations

from attunement.store.models.accounts import (
    ApiToken,
    LoginAttempt,
    Membership,
    PasswordReset,
    Site,
    Study,
    StudyMember,
    StudySite,
    TimePoint,
    User,
    WebSession,
)
from attunement.store.models.assessments import (
    Assessment,
)
from attunement.store.models.care import (
    Alert,
    CaregiverContribution,
    CaregiverLink,
    Consent,
    Episode,
    ResultRelease,
)
from attunement.store.models.caseload import (
    CaseloadSummary,
    CaseloadTimePoint,
)
from attunement.store.models.core import (
    NAMING,
    AuditEntry,
    AuditHead,
    Base,
    Setting,
    UTCDateTime,
    utcnow,
)
from attunement.store.models.export_jobs import (
    ExportJob,
)
from attunement.store.models.families import (
    Caregiver,
    Family,
    Identity,
    IdentityLookup,
    Infant,
)
from attunement.store.models.observations import (
    ObservationMeasures,
    ObservationSession,
)
from attunement.store.models.outreach import (
    ContactPreference,
    OutreachMessage,
)
from attunement.store.models.referrals import (
    Referral,
)
from attunement.store.models.trials import (
    TrialAllocation,
    TrialDesignRecord,
)

__all__ = [
    "NAMING",
    "Alert",
    "ApiToken",
    "Assessment",
    "AuditEntry",
    "AuditHead",
    "Base",
    "Caregiver",
    "CaregiverContribution",
    "CaregiverLink",
    "CaseloadSummary",
    "CaseloadTimePoint",
    "Consent",
    "ContactPreference",
    "Episode",
    "ExportJob",
    "Family",
    "Identity",
    "IdentityLookup",
    "Infant",
    "LoginAttempt",
    "Membership",
    "ObservationMeasures",
    "ObservationSession",
    "OutreachMessage",
    "PasswordReset",
    "Referral",
    "ResultRelease",
    "Setting",
    "Site",
    "Study",
    "StudyMember",
    "StudySite",
    "TimePoint",
    "TrialAllocation",
    "TrialDesignRecord",
    "UTCDateTime",
    "User",
    "WebSession",
    "utcnow",
]
