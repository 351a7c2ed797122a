"""The outreach worker: plans what is due, claims it, sends it, records the result.

Durability lives in the database (``outreach_messages``, see
:mod:`attunement.store.outreach`), so the worker is stateless: stop it at any time, run one
embedded in ``attunement serve`` on SQLite, or several ``attunement worker`` processes on
several machines against PostgreSQL. A failed delivery is retried with exponential back-off
until ``max_attempts``, then marked failed; both are shown to staff on the family page.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import attunement.outreach.planning as planning
import attunement.outreach.templates as templates
from attunement.outreach.channels import Channel, DeliveryError, JsonSmsChannel, SmtpChannel
from attunement.outreach.config import OutreachConfig
from attunement.outreach.urgency import is_emergency
from attunement.store import OutreachRecords, Store, StoreError
from attunement.usecases import assessments as uc_assessments

log = logging.getLogger("attunement.outreach")


class Worker:
    """Plans and delivers outreach for one store. ``clock`` is injectable for tests.

    Parameters
    ----------
    store : Store
        The platform's store (the messages are durable there).
    config : OutreachConfig
        The service's settings.
    email, sms : Channel, optional
        The channels; by default SMTP and the JSON SMS provider when configured, else none.
    name : str, optional
        The worker's name in the records (default: host, process and object id).
    clock : callable, optional
        Returns the current time (default: now, UTC).

    Examples
    --------
    A new store has nothing due, and with no SMTP server configured there is no e-mail channel
    (nothing is sent):

    >>> import tempfile
    >>> from pathlib import Path
    >>> from attunement.store import Store
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with Store.open(f"sqlite:///{folder}/a.db", key_path=Path(folder, "a.key")) as store:
    ...         worker = Worker(store, OutreachConfig(), name="docs")
    ...         print(worker.email, worker.run_once())
    None []
    """

    def __init__(
        self,
        store: Store,
        config: OutreachConfig,
        *,
        email: Channel | None = None,
        sms: Channel | None = None,
        name: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.records = OutreachRecords(store)
        self.config = config
        self.email = email or (SmtpChannel(config) if config.smtp_host else None)
        self.sms = sms or (JsonSmsChannel(config) if config.sms_url else None)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.clock = clock or (lambda: datetime.now(UTC))

    # ------------------------------------------------------------------ planning
    def plan(self, now: datetime | None = None) -> list[dict]:
        """Queue every message due by ``now`` (idempotent); returns those newly queued.

        Parameters
        ----------
        now : datetime, optional
            The time of planning (default: the worker's clock).

        Returns
        -------
        list of dict
            The messages queued by this call (already queued ones are not repeated).
        """
        now = now or self.clock()
        c = self.config
        rows = planning.questionnaire_messages(
            self.records.schedule_snapshot(now.date()), self.records.questionnaire_history(),
            now, c.reminder_days)
        hours = c.escalation_hours()
        rows += planning.alert_messages(
            self.records.open_alerts(), now, timedelta(minutes=c.escalate_after_minutes),
            c.duty_lists, is_emergency, clock=hours.add if hours else planning.wall_clock)
        return self.records.queue(rows)

    # ------------------------------------------------------------------ delivery
    def deliver_due(self, now: datetime | None = None, *, limit: int = 50) -> list[dict]:
        """Claim and deliver due messages until none is left; returns what was done.

        Parameters
        ----------
        now : datetime, optional
            The time of delivery (default: the worker's clock).
        limit : int, default 50
            How many messages to claim at a time.

        Returns
        -------
        list of dict
            One result per message: ``status`` sent, skipped, retry or failed, and the error.
        """
        now = now or self.clock()
        done: list[dict] = []
        while True:
            batch = self.records.claim(self.name, now, limit=limit)
            if not batch:
                return done
            for message in batch:
                done.append(self._deliver(message, now))

    def run_once(self, now: datetime | None = None) -> list[dict]:
        """Plan, then deliver everything due by ``now``.

        Parameters
        ----------
        now : datetime, optional
            The moment to plan and deliver for (default: the worker's clock).

        Returns
        -------
        list of dict
            What :meth:`deliver_due` did.
        """
        now = now or self.clock()
        self.plan(now)
        return self.deliver_due(now)

    def _deliver(self, m: dict, now: datetime) -> dict:
        ctx = self.records.delivery_context(m)
        result = {"id": m["id"], "kind": m["kind"], "channel": m["channel"],
                  "family_id": m["family_id"], "stage": m["stage"]}
        if not ctx["wanted"]:
            self.records.record(m, "skipped", error=ctx["why_not"], now=now, worker=self.name)
            return {**result, "status": "skipped", "error": ctx["why_not"]}
        link: list[str] = []
        try:
            channel = self.sms if m["channel"] == "sms" else self.email
            if channel is None:
                raise DeliveryError(f"no {m['channel']} channel is configured", retryable=False)
            to, subject, body = self._compose(m, ctx, now, link)
            channel.send(to, subject, body, key=m["key"])
        except DeliveryError as exc:
            return {**result, **self._failed(m, str(exc), exc.retryable, now, link)}
        except StoreError as exc:  # e.g. the link could not be created (time point removed)
            return {**result, **self._failed(m, str(exc), False, now, link)}
        self.records.record(m, "sent", now=now, worker=self.name)
        return {**result, "status": "sent", "error": None}

    def _failed(self, m: dict, error: str, retryable: bool, now: datetime,
                link: list[str]) -> dict:
        c = self.config
        unused = link[0] if link else None
        if retryable and m["attempts"] < c.max_attempts:
            when = now + planning.backoff(m["attempts"], c.retry_base_seconds,
                                          c.retry_max_seconds)
            self.records.record(m, "retry", error=error, not_before=when, now=now,
                                worker=self.name, undelivered_link=unused)
            log.warning("outreach message %s: %s; retry at %s", m["id"], error, when)
            return {"status": "retry", "error": error, "retry_at": when.isoformat()}
        self.records.record(m, "failed", error=error, now=now, worker=self.name,
                            undelivered_link=unused)
        log.error("outreach message %s failed: %s", m["id"], error)
        return {"status": "failed", "error": error}

    def _compose(self, m: dict, ctx: dict, now: datetime,
                 link: list[str]) -> tuple[str, str, str]:
        """The message's address, subject and text; a caregiver link made is put in ``link``."""
        c = self.config
        if not ctx["address"]:
            what = "mobile number" if m["channel"] == "sms" else "e-mail address"
            raise DeliveryError(f"no {what} on record", retryable=False)
        base = c.public_url.rstrip("/")
        context: dict[str, Any] = {"service": c.service_name}
        if m["caregiver_id"] is not None:
            hours = c.link_hours
            token = uc_assessments.create_link(
                self.store, self.store.system_actor(), m["family_id"], ctx["caregiver_key"],
                m["instrument"], m["time_point"], hours=hours)
            link.append(token)
            context.update(link=f"{base}/c/{token}",
                           expires=(now + timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M UTC"),
                           crisis_contacts=c.contacts())
            kind = m["kind"]
        else:
            context["link"] = f"{base}/families/{m['family_id']}"
            emergency = is_emergency(ctx.get("alert_kind", ""), ctx.get("flag_id", ""))
            kind = "emergency" if emergency else m["kind"]
        rendered, _lang = templates.render(kind, m["channel"], m["language"], context,
                                           directory=c.templates_dir)
        return ctx["address"], rendered.subject, rendered.body

    # ------------------------------------------------------------------ running
    def run_forever(self, stop: threading.Event) -> None:
        """Plan every ``plan_seconds``, deliver every ``poll_seconds``, until ``stop`` is set.

        An error (database away, a bug) is logged and the loop goes on: the next round
        picks up whatever was left, as the records are durable.

        Parameters
        ----------
        stop : threading.Event
            Set it to end the loop (after the current round).
        """
        last_plan: datetime | None = None
        while not stop.is_set():
            try:
                now = self.clock()
                if last_plan is None or (now - last_plan).total_seconds() >= self.config.plan_seconds:
                    self.plan(now)
                    last_plan = now
                self.deliver_due(now)
            except Exception:
                log.exception("outreach worker round failed; retrying")
            stop.wait(self.config.poll_seconds)


def start_embedded(store: Store, config: OutreachConfig | None = None
                   ) -> tuple[threading.Thread, threading.Event] | None:
    """Start a worker thread beside ``attunement serve`` (SQLite, outreach configured, and
    ``$ATTUNEMENT_EMBEDDED_WORKER`` not ``0``); None when not started.

    Parameters
    ----------
    store : Store
        The web service's store.
    config : OutreachConfig, optional
        The settings (default: :meth:`OutreachConfig.from_env`).

    Returns
    -------
    tuple of (threading.Thread, threading.Event) or None
        The daemon thread and the event that stops it.

    Examples
    --------
    Without an SMTP server or SMS provider no worker is started:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from attunement.store import Store
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with Store.open(f"sqlite:///{folder}/s.db", key_path=Path(folder, "s.key")) as store:
    ...         started = start_embedded(store, OutreachConfig())
    >>> started is None
    True
    """
    config = config or OutreachConfig.from_env()
    if (not config.configured or store.dialect != "sqlite"
            or os.environ.get("ATTUNEMENT_EMBEDDED_WORKER", "1") == "0"):
        return None
    stop = threading.Event()
    thread = threading.Thread(target=Worker(store, config).run_forever, args=(stop,),
                              name="attunement-outreach", daemon=True)
    thread.start()
    return thread, stop
