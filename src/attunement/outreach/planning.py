"""What is due to be sent, given a snapshot of the store and a clock (pure functions).

Questionnaires: an invitation when a time point's window opens (due date or birth + offset -
window, the store's schedule rule), then reminders ``reminder_days`` after the invitation, until
the questionnaire is answered or the window closes. Urgent flags: the family's practitioner at
once; unacknowledged after ``escalate_after`` the site's duty list, after twice that the site
lead(s); an emergency goes to the duty list at once as well. Each message has an idempotency
key, so planning any number of times (or on several workers) queues it once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


def questionnaire_messages(
    items: Iterable[Mapping],
    history: Mapping[tuple[int, str, str], tuple[int, datetime]],
    now: datetime,
    reminder_days: Sequence[int],
) -> list[dict]:
    """The next message (invitation or reminder) of every open, unanswered item that is due.

    ``history`` maps (caregiver, instrument, time point) to (messages so far, first queued at).
    At most one message per item per call: a worker that was stopped for a week sends the
    reminder that is due, not every one it missed.
    """
    today = now.date()
    out = []
    for it in items:
        key = (it["caregiver_id"], it["instrument"], it["time_point"])
        sent, first = history.get(key, (0, None))
        if sent == 0:
            if today < it["opens"]:
                continue
        elif sent > len(reminder_days) or first is None or today < first.date() + timedelta(days=reminder_days[sent - 1]):
            continue
        if today > it["closes"]:
            continue
        out.append({
            "key": f"q:{it['caregiver_id']}:{it['instrument']}:{it['time_point']}:{sent}",
            "kind": "invitation" if sent == 0 else "reminder",
            "stage": sent,
            "channel": it["method"],
            "family_id": it["family_id"],
            "site_id": it["site_id"],
            "caregiver_id": it["caregiver_id"],
            "instrument": it["instrument"],
            "time_point": it["time_point"],
            "language": it["language"],
            "status": "skipped" if it["opted_out"] else "queued",
            "last_error": "the caregiver opted out" if it["opted_out"] else None,
            "not_before": now,
            "created_at": now,
        })
    return out


@dataclass(frozen=True)
class WorkingHours:
    """The hours an escalation clock runs: ``start``-``end`` local time on ``days``
    (0 = Monday) in ``timezone``."""

    start: time
    end: time
    days: frozenset[int]
    timezone: ZoneInfo

    def add(self, moment: datetime, span: timedelta) -> datetime:
        """``moment`` plus ``span`` of working time (time outside working hours does not count).

        A flag raised at 16:30 on a Friday with two working hours to go escalates at 10:30 on
        Monday; one raised on a Saturday night at 11:00 on Monday.
        """
        left = span
        local = moment.astimezone(self.timezone)
        day = local.date()
        while True:
            if day.weekday() in self.days:
                opens = datetime.combine(day, self.start, self.timezone)
                closes = datetime.combine(day, self.end, self.timezone)
                begin = max(opens, local)
                if begin < closes:
                    if begin + left <= closes:
                        return (begin + left).astimezone(moment.tzinfo)
                    left -= closes - begin
            day += timedelta(days=1)
            local = datetime.combine(day, time(0), self.timezone)


def wall_clock(moment: datetime, span: timedelta) -> datetime:
    """``moment`` plus ``span``: every hour counts."""
    return moment + span


def alert_messages(
    alerts: Iterable[Mapping],
    now: datetime,
    escalate_after: timedelta,
    duty_lists: Mapping[str, Sequence[str]],
    is_emergency: Callable[[str, str], bool],
    *,
    clock: Callable[[datetime, timedelta], datetime] = wall_clock,
) -> list[dict]:
    """Notifications and escalations of open urgent flags due by ``now``.

    Stage 0: the family's practitioner (the one who registered the family when still a
    practitioner of the site, else every practitioner of the site). Stage 1: the site's duty
    list. Stage 2: the site lead(s). An emergency starts at stages 0 and 1 together.
    ``clock(moment, span)`` says when ``span`` after ``moment`` is (wall-clock time, or
    :meth:`WorkingHours.add`); an emergency's first stages never wait for working hours.
    """
    out = []
    for a in alerts:
        emergency = is_emergency(a["kind"], a["flag_id"])
        practitioners = list(a["practitioners"])
        owner = [a["created_by"]] if a["created_by"] in practitioners else practitioners
        stages: list[tuple[int, timedelta, list[tuple[int | None, str | None]]]] = [
            (0, timedelta(0), [(u, None) for u in owner]),
            (1, timedelta(0) if emergency else escalate_after,
             [(None, addr) for addr in duty_lists.get(a["site"], ())]),
            (2, 2 * escalate_after if not emergency else escalate_after,
             [(u, None) for u in a["site_leads"]]),
        ]
        for stage, after, recipients in stages:
            due = a["created_at"] if after == timedelta(0) else clock(a["created_at"], after)
            if now < due:
                continue
            if not recipients:  # recorded as failed, visible on the family page, not dropped
                who = ("practitioner", "duty list", "site lead")[stage]
                out.append({
                    "key": f"a:{a['id']}:{stage}:nobody", "kind": "alert" if stage == 0
                    else "escalation", "stage": stage, "channel": "email",
                    "family_id": a["family_id"], "site_id": a["site_id"], "alert_id": a["id"],
                    "language": "en", "status": "failed",
                    "last_error": f"no one to notify: site {a['site']!r} has no {who}",
                    "not_before": now, "created_at": now, "emergency": emergency})
            for user_id, address in recipients:
                who = f"u{user_id}" if user_id is not None else f"d:{address}"
                out.append({
                    "key": f"a:{a['id']}:{stage}:{who}",
                    "kind": "alert" if stage == 0 else "escalation",
                    "stage": stage,
                    "channel": "email",
                    "family_id": a["family_id"],
                    "site_id": a["site_id"],
                    "alert_id": a["id"],
                    "user_id": user_id,
                    "staff_address": address,
                    "language": "en",
                    "status": "queued",
                    "not_before": now,
                    "created_at": now,
                    "emergency": emergency,
                })
    return out


def backoff(attempts: int, base_seconds: float, max_seconds: float) -> timedelta:
    """Delay before retry number ``attempts`` (1, 2, …): base, 2 x base, 4 x base, … capped."""
    return timedelta(seconds=min(max_seconds, base_seconds * 2 ** max(0, attempts - 1)))
