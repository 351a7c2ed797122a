"""Reaching people: invitations and reminders from study schedules, urgent-flag escalation,
and the durable worker that sends them (e-mail over SMTP, SMS through a provider).

The use-case layer of outreach: :mod:`.planning` is pure (what is due, given a snapshot and a
clock), :mod:`attunement.store.outreach` holds the durable records, :mod:`.worker` plans,
claims and delivers. Messages carry no clinical content and no names.
"""

from __future__ import annotations

from attunement.outreach.config import OutreachConfig, OutreachConfigError
from attunement.outreach.urgency import is_emergency
from attunement.outreach.worker import Worker

__all__ = ["OutreachConfig", "OutreachConfigError", "Worker", "is_emergency"]
