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

    At most one message per item per call: a worker that was stopped for a week sends the
    reminder that is due, not every one it missed.

    Parameters
    ----------
    items : iterable of mapping
        The store's schedule snapshot: one open, unanswered questionnaire per item, with
        ``caregiver_id, instrument, time_point, opens, closes, method, language, opted_out``
        and the family and site ids.
    history : mapping
        (caregiver, instrument, time point) -> (messages so far, first queued at).
    now : datetime
        The time of planning.
    reminder_days : sequence of int
        Days after the invitation at which each reminder is due.

    Returns
    -------
    list of dict
        The messages to queue, each with its idempotency ``key``; an opted-out caregiver's is
        ``skipped``.

    Examples
    --------
    An EPDS at 6 weeks whose window opened on 1 December, invited on the 1st, on the 4th:

    >>> from datetime import UTC, date, datetime
    >>> item = {"caregiver_id": 7, "instrument": "epds", "time_point": "6w", "family_id": 3,
    ...         "site_id": 1, "opens": date(2026, 12, 1), "closes": date(2026, 12, 29),
    ...         "method": "sms", "language": "en", "opted_out": False}
    >>> sent = {(7, "epds", "6w"): (1, datetime(2026, 12, 1, 9, tzinfo=UTC))}
    >>> due = questionnaire_messages([item], sent, datetime(2026, 12, 4, 9, tzinfo=UTC), [3, 7])
    >>> [(m["kind"], m["key"]) for m in due]
    [('reminder', 'q:7:epds:6w:1')]
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
    (0 = Monday) in ``timezone``.

    Parameters
    ----------
    start, end : datetime.time
        Opening and closing time, local.
    days : frozenset of int
        The working weekdays.
    timezone : zoneinfo.ZoneInfo
        The service's time zone.

    Examples
    --------
    >>> from datetime import UTC, datetime, time, timedelta
    >>> from zoneinfo import ZoneInfo
    >>> office = WorkingHours(time(9), time(17), frozenset(range(5)), ZoneInfo("Europe/London"))
    >>> friday = datetime(2026, 12, 4, 16, 30, tzinfo=UTC)
    >>> office.add(friday, timedelta(hours=2)).isoformat()
    '2026-12-07T10:30:00+00:00'
    """

    start: time
    end: time
    days: frozenset[int]
    timezone: ZoneInfo

    def add(self, moment: datetime, span: timedelta) -> datetime:
        """``moment`` plus ``span`` of working time (time outside working hours does not count).

        A flag raised at 16:30 on a Friday with two working hours to go escalates at 10:30 on
        Monday; one raised on a Saturday night at 11:00 on Monday.

        Parameters
        ----------
        moment : datetime
            When the clock starts (time-zone aware).
        span : timedelta
            How much working time to add.

        Returns
        -------
        datetime
            The moment the span runs out, in ``moment``'s time zone.
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
    """``moment`` plus ``span``: every hour counts (no working hours configured).

    Parameters
    ----------
    moment : datetime
        The start.
    span : timedelta
        The time to add.

    Returns
    -------
    datetime
        ``moment + span``.

    Examples
    --------
    >>> from datetime import datetime, timedelta
    >>> wall_clock(datetime(2026, 12, 5, 23, 0), timedelta(hours=2))
    datetime.datetime(2026, 12, 6, 1, 0)
    """
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

    Parameters
    ----------
    alerts : iterable of mapping
        Open alerts with ``id, kind, flag_id, created_at, created_by, practitioners, site,
        site_leads`` and the family and site ids.
    now : datetime
        The time of planning.
    escalate_after : timedelta
        How long an alert may stay unacknowledged before the duty list is told.
    duty_lists : mapping
        Site name -> duty e-mail addresses.
    is_emergency : callable
        ``is_emergency(kind, flag_id)``, as :func:`attunement.outreach.urgency.is_emergency`.
    clock : callable, default :func:`wall_clock`
        ``clock(moment, span)`` says when ``span`` after ``moment`` is (or
        :meth:`WorkingHours.add`); an emergency's first stages never wait for working hours.

    Returns
    -------
    list of dict
        The staff messages to queue; a stage with no one to tell is a ``failed`` row saying so.

    Examples
    --------
    A same-day flag raised three hours ago, escalation after two:

    >>> from datetime import UTC, datetime, timedelta
    >>> alert = {"id": 41, "kind": "safety", "flag_id": "epds_item10", "family_id": 3,
    ...          "site_id": 1, "site": "north", "created_by": 5, "practitioners": [5, 6],
    ...          "site_leads": [2], "created_at": datetime(2026, 12, 4, 9, tzinfo=UTC)}
    >>> due = alert_messages([alert], datetime(2026, 12, 4, 12, tzinfo=UTC), timedelta(hours=2),
    ...                      {"north": ["duty@north.example"]}, lambda kind, flag: False)
    >>> [(m["stage"], m["key"]) for m in due]
    [(0, 'a:41:0:u5'), (1, 'a:41:1:d:duty@north.example')]
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
    """Delay before retry number ``attempts`` (1, 2, …): base, 2 x base, 4 x base, … capped.

    Parameters
    ----------
    attempts : int
        The attempts made so far.
    base_seconds, max_seconds : float
        The first delay and the longest.

    Returns
    -------
    timedelta
        How long to wait.

    Examples
    --------
    >>> [str(backoff(n, 60, 3600)) for n in (1, 2, 4, 10)]
    ['0:01:00', '0:02:00', '0:08:00', '1:00:00']
    """
    return timedelta(seconds=min(max_seconds, base_seconds * 2 ** max(0, attempts - 1)))
