"""Use cases: the one layer that imports both the store and the domain libraries.

The web service and the command line call these functions with an open
:class:`attunement.store.Store` and an actor; the store decides what the actor may see, the
domain libraries compute. Modules: :mod:`~attunement.usecases.profiles` (a stored family's
vulnerability profile and intervention matches), :mod:`~attunement.usecases.cascade` (the care
cascade of the actor's families) and :mod:`~attunement.usecases.instrument_exports` (REDCap
and FHIR exports of stored assessments built by :mod:`attunement.instruments.export`),
:mod:`~attunement.usecases.assessments` (questionnaire submissions scored by
:mod:`attunement.instruments`), :mod:`~attunement.usecases.families` (family files checked
by :mod:`attunement.risk`) and :mod:`~attunement.usecases.referrals` (referrals checked against
the intervention catalogue, the treatment routes and the reliable-change rules).
"""
